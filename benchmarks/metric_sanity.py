"""Known-answer table for genlab's metrics: every metric on cases whose answer is known in advance.

On each dataset (mnist-5k and fashion-mnist by default) the evaluator is built (or read from the
cache) and its test accuracy checked against the issue's targets (98% and 90%). Then the real test
images are compared, in the evaluator's feature space, with "samplers" whose verdict is known:

- the test split itself       FID 0, precision = recall = coverage = 1, density ~1
- the train split             FID small next to the broken samplers; precision and recall high
- uniform noise               FID huge; precision = recall = 0
- one repeated real image     FID large; recall and coverage ~0
- one class only              mode dropping: precision high, recall low
- a blur/noise mix            every class but degraded: the reverse, recall above precision

plus the dataset-free checks: FID of two Gaussians against the closed form, KID of two halves of
one set within its standard deviation, the Parzen estimate of Gaussian data against the analytic
log density, toy2d mode counts of a perfect and a collapsed sampler, and stacked MNIST's modes of
real stacked digits against the number expected of uniform draws.

    python benchmarks/metric_sanity.py                       # ~2-6 minutes on 2 cores (evaluators cached)
    python benchmarks/metric_sanity.py --data mnist-5k --real 1000 --out /tmp/sanity.json
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from rich.console import Console
from rich.table import Table

import genlab
from genlab.data.batches import to_float
from genlab.data.toy2d import draw_points
from genlab.metrics.classifier import class_histogram, data_class_distribution, inception_score
from genlab.metrics.evaluator import get_evaluator
from genlab.metrics.fid import fid_from_features, frechet_distance, kernel_inception_distance
from genlab.metrics.likelihood import gaussian_log_density_mean, parzen_log_likelihood
from genlab.metrics.modes import stacked_modes, toy2d_modes
from genlab.metrics.prdc import prdc
from machine import machine_info  # benchmarks/machine.py, beside this script

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "metric_sanity.json"
ACCURACY_TARGETS = {"mnist-5k": 0.98, "fashion-mnist": 0.90}
BLURS, NOISE_LEVELS = (3, 5), (0.05, 0.1, 0.5, 0.7)


def blur_noise_mix(images: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """Image i gets the (i mod 6)-th of: box blur 3, box blur 5, Gaussian noise 0.05 / 0.1 / 0.5 / 0.7."""
    generator = torch.Generator().manual_seed(seed)
    kinds = [("blur", size) for size in BLURS] + [("noise", level) for level in NOISE_LEVELS]
    out = images.clone()
    for index, (kind, value) in enumerate(kinds):
        chosen = torch.arange(index, images.shape[0], len(kinds))
        part = images[chosen]
        if kind == "blur":
            out[chosen] = F.avg_pool2d(F.pad(part, (value // 2,) * 4, mode="replicate"), value, stride=1)
        else:
            out[chosen] = (part + value * torch.randn(part.shape, generator=generator)).clamp(0, 1)
    return out


def samplers(dataset: Any, count: int) -> dict[str, torch.Tensor]:
    """The known-answer "samplers": `count` float images each (the test split itself is added by the caller)."""
    generator = torch.Generator().manual_seed(1)
    train = to_float(dataset.train_x[torch.randperm(dataset.train_x.shape[0], generator=generator)[:count]])
    one_class = to_float(dataset.train_x[dataset.train_y == 1])
    one_class = one_class[torch.randint(0, one_class.shape[0], (count,), generator=generator)]
    return {
        "train split": train,
        "uniform noise": torch.rand(count, *dataset.shape, generator=generator),
        "one repeated image": train[:1].repeat(count, 1, 1, 1),
        f"one class only ({dataset.class_names[1]})": one_class,
        "blur/noise mix": blur_noise_mix(train),
    }


Check = Callable[[dict[str, dict[str, float]]], tuple[bool, str]]


def expectations(one_class: str) -> dict[str, Check]:
    """What each sampler must show; each check sees every row so it can compare samplers."""

    def test_itself(rows):
        row = rows["test split itself"]
        ok = row["fid"] < 1e-6 and row["precision"] == row["recall"] == row["coverage"] == 1.0 and abs(row["density"] - 1) < 0.1
        return ok, "FID 0; P = R = C = 1; D ~ 1"

    def train(rows):
        row = rows["train split"]
        ok = (row["fid"] < 0.05 * rows["one repeated image"]["fid"] and row["fid"] < 0.02 * rows["uniform noise"]["fid"]
              and row["precision"] > 0.7 and row["recall"] > 0.7)
        return ok, "FID < 5% of repeated-image FID and < 2% of noise FID; P, R > 0.7"

    def noise(rows):
        row = rows["uniform noise"]
        return row["precision"] < 0.05 and row["recall"] < 0.05, "P, R < 0.05"

    def repeated(rows):
        row = rows["one repeated image"]
        return row["recall"] < 0.05 and row["coverage"] < 0.05, "R, C < 0.05"

    def dropping(rows):
        row = rows[one_class]
        return row["precision"] > 0.8 and row["recall"] < 0.3, "P > 0.8, R < 0.3"

    def mix(rows):
        row, dropped = rows["blur/noise mix"], rows[one_class]
        ok = row["recall"] > row["precision"] and row["precision"] < dropped["precision"] and row["recall"] > dropped["recall"]
        return ok, "R > P; P below and R above the one-class sampler's"

    return {"test split itself": test_itself, "train split": train, "uniform noise": noise,
            "one repeated image": repeated, one_class: dropping, "blur/noise mix": mix}


def dataset_table(name: str, real_count: int, console: Console) -> dict[str, Any]:
    """Evaluator accuracy and the sampler rows on one dataset."""
    started = time.perf_counter()
    dataset = genlab.load_dataset(name)
    evaluator = get_evaluator(name, progress=lambda message: console.print(f"  [dim]{name} evaluator: {message}[/dim]"))
    accuracy = evaluator.metadata.get("test_accuracy")
    keep = torch.randperm(dataset.test_x.shape[0], generator=torch.Generator().manual_seed(0))[:real_count]
    real_images, real_labels = to_float(dataset.test_x[keep]), dataset.test_y[keep]
    real_features, real_probabilities = evaluator.features_and_probabilities(real_images)
    data_distribution = data_class_distribution(dataset.train_y, dataset.num_classes)
    cases = {"test split itself": real_images[torch.randperm(real_count, generator=torch.Generator().manual_seed(2))],
             **samplers(dataset, real_count)}
    rows: dict[str, dict[str, float]] = {}
    for case, images in cases.items():
        features, probabilities = evaluator.features_and_probabilities(images)
        kid = kernel_inception_distance(real_features, features, subsets=50, subset_size=min(1000, real_count // 2))
        histogram = class_histogram(probabilities.argmax(1), dataset.num_classes, data_distribution)
        rows[case] = {"fid": fid_from_features(real_features, features), "kid_mean": kid["kid_mean"],
                      "kid_std": kid["kid_std"], **prdc(real_features, features),
                      "inception_score": inception_score(probabilities)["inception_score"],
                      "classes_covered": histogram["classes_covered"], "class_kl": histogram["class_kl"]}
    one_class = next(case for case in cases if case.startswith("one class only"))
    checks = {case: check(rows) for case, check in expectations(one_class).items()}
    target = ACCURACY_TARGETS.get(name)
    return {
        "dataset": name,
        "real_items": real_count,
        "evaluator": {"path": str(evaluator.path), "test_accuracy": accuracy, "target": target,
                      "meets_target": None if target is None or accuracy is None else accuracy >= target,
                      "train_seconds": evaluator.metadata.get("train_seconds"), "epochs": evaluator.metadata.get("epochs"),
                      "train_items": evaluator.metadata.get("train_items")},
        "real_inception_score": inception_score(real_probabilities)["inception_score"],
        "real_classifier_accuracy": float((real_probabilities.argmax(1) == real_labels).double().mean()),
        "rows": rows,
        "checks": {case: {"passed": passed, "expected": text} for case, (passed, text) in checks.items()},
        "seconds": time.perf_counter() - started,
    }


def general_checks(console: Console) -> dict[str, Any]:
    """The dataset-free known answers."""
    results: dict[str, Any] = {}
    generator = torch.Generator().manual_seed(0)

    # FID of Gaussians: the closed form (scipy's sqrtm) against the estimate from 200k samples each.
    import scipy.linalg

    dims = 6
    factors = [torch.randn(dims, dims, generator=generator, dtype=torch.float64) for _ in range(2)]
    cov_1, cov_2 = (f @ f.T / dims + 0.1 * torch.eye(dims, dtype=torch.float64) for f in factors)
    mean = torch.randn(dims, generator=generator, dtype=torch.float64)
    closed = float(mean.square().sum() + cov_1.trace() + cov_2.trace()) - 2 * float(
        scipy.linalg.sqrtm(cov_1.numpy() @ cov_2.numpy()).real.trace())
    samples_1 = mean + torch.randn(200_000, dims, generator=generator, dtype=torch.float64) @ torch.linalg.cholesky(cov_1).T
    samples_2 = torch.randn(200_000, dims, generator=generator, dtype=torch.float64) @ torch.linalg.cholesky(cov_2).T
    estimate = fid_from_features(samples_1, samples_2)
    exact = frechet_distance(mean, cov_1, torch.zeros(dims), cov_2)
    results["fid_gaussians"] = {"closed_form": closed, "from_parameters": exact, "from_200k_samples": estimate,
                                "passed": abs(exact - closed) < 1e-8 * closed and abs(estimate - closed) < 0.02 * closed}

    # Parzen on Gaussian data against the analytic mean log density, in 2 and 5 dimensions.
    for dims in (2, 5):
        data = torch.randn(13_000, dims, generator=generator, dtype=torch.float64)
        result = parzen_log_likelihood(data[:10_000], data[10_000:11_000], data[11_000:], images=False)
        analytic = gaussian_log_density_mean(dims)
        results[f"parzen_gaussian_{dims}d"] = {"parzen": result["log_likelihood_nats"], "analytic": analytic,
                                               "sigma": result["sigma"],
                                               "passed": abs(result["log_likelihood_nats"] - analytic) < 0.05 * dims}

    # toy2d: a perfect sampler covers every mode, a collapsed one a single mode.
    for layout in ("ring-8", "grid-25"):
        data = genlab.load_dataset("toy2d", layout=layout, n_train=10, n_test=10)
        modes, std = data.info["modes"], data.info["std"]
        perfect = toy2d_modes(draw_points(modes, std, 10_000, generator)[0], modes, std)
        collapsed = toy2d_modes(modes[0] + std * torch.randn(10_000, 2, generator=generator), modes, std)
        results[f"toy2d_{layout}"] = {
            "modes": int(modes.shape[0]), "perfect_covered": perfect["modes_covered"],
            "perfect_high_quality": perfect["high_quality_share"], "collapsed_covered": collapsed["modes_covered"],
            "passed": perfect["modes_covered"] == modes.shape[0] and collapsed["modes_covered"] == 1
            and abs(perfect["high_quality_share"] - (1 - math.exp(-4.5))) < 0.01,
        }

    # stacked MNIST: real stacked test digits cover about as many of the 1,000 modes as uniform draws would.
    # 2,000 draws cover 1000 (1 - (1 - 1/1000)^2000) = 865 of the modes on average (std ~9).
    stacked_config = {"name": "stacked-mnist", "options": {"source": "mnist-5k", "n_train": 100, "n_test": 2000}}
    stacked = genlab.load_dataset("stacked-mnist", source="mnist-5k", n_train=100, n_test=2000)
    evaluator = get_evaluator(stacked_config)
    predicted = evaluator.predict(stacked.test_x)
    real = stacked_modes(predicted, 1000)
    expected = 1000 * (1 - (1 - 1 / 1000) ** stacked.test_x.shape[0])
    repeated = stacked_modes(evaluator.predict(stacked.test_x[:1].repeat(1000, 1, 1, 1)), 1000)
    results["stacked_mnist"] = {
        "samples": int(stacked.test_x.shape[0]), "real_modes_covered": real["modes_covered"],
        "expected_for_uniform_draws": expected, "real_kl_to_uniform": real["mode_kl_to_uniform"],
        "mode_accuracy": float((predicted == stacked.test_y).double().mean()),
        "repeated_image_modes": repeated["modes_covered"],
        "passed": abs(real["modes_covered"] - expected) < 30 and repeated["modes_covered"] == 1,
    }

    # KID of two halves of one real set: zero within its standard deviation.
    digits = genlab.load_dataset("mnist-5k")
    features = get_evaluator("mnist-5k").features(digits.train_x)
    kid = kernel_inception_distance(features[:2000], features[2000:], subsets=100, subset_size=500)
    results["kid_two_halves_mnist5k"] = {**kid, "passed": abs(kid["kid_mean"]) < kid["kid_std"]}
    return results


def mark(passed: bool | None) -> str:
    return "[green]yes[/green]" if passed else ("[red]NO[/red]" if passed is not None else "-")


def print_report(results: dict[str, Any], console: Console) -> None:
    for table_data in results["datasets"]:
        evaluator = table_data["evaluator"]
        title = (f"{table_data['dataset']}: {table_data['real_items']} real test images vs samplers; evaluator test "
                 f"accuracy {evaluator['test_accuracy']:.2%} (target {evaluator['target']:.0%}: "
                 f"{'met' if evaluator['meets_target'] else 'NOT met'})")
        table = Table(title=title, title_justify="left")
        for column in ("sampler", "FID", "KID (± std)", "precision", "recall", "density", "coverage", "IS", "classes",
                       "expected", "ok"):
            table.add_column(column, justify="left" if column in ("sampler", "expected") else "right")
        for case, row in table_data["rows"].items():
            check = table_data["checks"][case]
            table.add_row(case, f"{row['fid']:.2f}", f"{row['kid_mean']:.3g} ± {row['kid_std']:.2g}",
                          f"{row['precision']:.3f}", f"{row['recall']:.3f}", f"{row['density']:.3f}",
                          f"{row['coverage']:.3f}", f"{row['inception_score']:.2f}", str(row["classes_covered"]),
                          check["expected"], mark(check["passed"]))
        console.print(table)
    table = Table(title="dataset-free known answers", title_justify="left")
    table.add_column("check")
    table.add_column("result")
    table.add_column("ok", justify="right")
    general = results["general"]
    gaussians = general["fid_gaussians"]
    table.add_row("FID of two 6-D Gaussians", f"closed form {gaussians['closed_form']:.4f}; from parameters "
                  f"{gaussians['from_parameters']:.4f}; from 200k samples {gaussians['from_200k_samples']:.4f}",
                  mark(gaussians["passed"]))
    for dims in (2, 5):
        parzen = general[f"parzen_gaussian_{dims}d"]
        table.add_row(f"Parzen, N(0, I) in {dims}-D", f"{parzen['parzen']:.3f} nats vs analytic {parzen['analytic']:.3f} "
                      f"(sigma {parzen['sigma']:.3g})", mark(parzen["passed"]))
    for layout in ("ring-8", "grid-25"):
        toy = general[f"toy2d_{layout}"]
        table.add_row(f"toy2d {layout} modes", f"perfect sampler {toy['perfect_covered']}/{toy['modes']} "
                      f"({toy['perfect_high_quality']:.1%} high quality); collapsed {toy['collapsed_covered']}",
                      mark(toy["passed"]))
    stacked = general["stacked_mnist"]
    table.add_row("stacked-mnist modes", f"real stacked digits: {stacked['real_modes_covered']} of 1000 "
                  f"(uniform draws: {stacked['expected_for_uniform_draws']:.1f}), KL {stacked['real_kl_to_uniform']:.3f}, "
                  f"mode accuracy {stacked['mode_accuracy']:.1%}; one repeated image: {stacked['repeated_image_modes']}",
                  mark(stacked["passed"]))
    kid = general["kid_two_halves_mnist5k"]
    table.add_row("KID, two halves of mnist-5k train", f"{kid['kid_mean']:.3f} ± {kid['kid_std']:.3f}", mark(kid["passed"]))
    console.print(table)


def main() -> None:
    started = time.perf_counter()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", nargs="+", default=["mnist-5k", "fashion-mnist"], help="datasets (default both)")
    parser.add_argument("--real", type=int, default=5000, help="real test images per dataset (at most the split)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"JSON results (default {DEFAULT_OUT})")
    args = parser.parse_args()
    console = Console()
    results: dict[str, Any] = {"benchmark": "metric_sanity", "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                               "machine": machine_info(), "loadavg_before": list(os.getloadavg()), "datasets": []}
    for name in args.data:
        test_count = genlab.load_dataset(name).test_x.shape[0]
        results["datasets"].append(dataset_table(name, min(args.real, test_count), console))
    results["general"] = general_checks(console)
    results["loadavg_after"] = list(os.getloadavg())
    results["all_passed"] = all(check["passed"] for table in results["datasets"] for check in table["checks"].values()) \
        and all(table["evaluator"]["meets_target"] is not False for table in results["datasets"]) \
        and all(check["passed"] for check in results["general"].values())
    results["wall_seconds"] = time.perf_counter() - started
    print_report(results, console)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    console.print(f"all known answers {'hold' if results['all_passed'] else 'do NOT all hold'}; "
                  f"wrote {args.out} ({results['wall_seconds']:.0f} s)")


if __name__ == "__main__":
    main()
