"""The printed form of an evaluation: one rich table of metric, value and what to compare it with."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

# (metric key, label, format, better: "lower" | "higher" | "" )
ROWS = [
    ("fid", "FID", "{:.3f}", "lower"),
    ("fid_normalised", "FID / lowest trivial-sampler FID", "{:.3f}", "lower"),
    ("kid_mean", "KID", "{:.5f}", "lower"),
    ("precision", "precision (k=3)", "{:.3f}", "higher"),
    ("recall", "recall (k=3)", "{:.3f}", "higher"),
    ("density", "density (k=5)", "{:.3f}", "~1"),
    ("coverage", "coverage (k=5)", "{:.3f}", "higher"),
    ("inception_score", "Inception Score (evaluator)", "{:.3f}", "higher"),
    ("classes_covered", "classes covered", "{}", "higher"),
    ("class_kl", "class KL to data (nats)", "{:.4f}", "lower"),
    ("conditional_accuracy", "accuracy of requested class", "{:.3f}", "higher"),
    ("modes_covered", "modes covered", "{}", "higher"),
    ("high_quality_share", "high-quality samples", "{:.3f}", "higher"),
    ("mode_kl_to_uniform", "mode KL to uniform (nats)", "{:.4f}", "lower"),
    ("nll_nats", "NLL (nats/image)", "{:.2f}", "lower"),
    ("nll_bits_per_dim", "NLL (bits/dim)", "{:.4f}", "lower"),
    ("parzen_log_likelihood", "Parzen log-likelihood (nats)", "{:.2f}", "higher"),
    ("parzen_bits_per_dim", "Parzen NLL (bits/dim)", "{:.4f}", "lower"),
    ("reconstruction_mse", "reconstruction MSE (pixels)", "{:.5f}", "lower"),
    ("reconstruction_feature_mse", "reconstruction MSE (features)", "{:.5f}", "lower"),
    ("sharpness_all_samples", "var. of Laplacian, all samples", "{:.5f}", "~real"),
    ("recognised_share", "samples the evaluator recognises", "{:.3f}", "higher"),
    ("sharpness_ratio", "sharpness / real (recognised)", "{:.3f}", "~1"),
    ("sharpness_log_error", "|log sharpness ratio|", "{:.3f}", "lower"),
    ("spectrum_low_error", "spectrum error, low frequencies", "{:.3f}", "lower"),
    ("spectrum_high_error", "spectrum error, high frequencies", "{:.3f}", "lower"),
    ("checkerboard_energy", "checkerboard energy / real", "{:.3f}", "~1"),
    ("pixel_entropy", "pixel entropy (bits)", "{:.3f}", "~real"),
    ("pixel_mean", "pixel mean", "{:.3f}", "~real"),
    ("latent_knn_accuracy", "5-NN class accuracy of codes", "{:.3f}", "higher"),
    ("latent_silhouette", "silhouette of codes by class", "{:.3f}", "higher"),
    ("midpoint_entropy", "classifier entropy at path midpoints", "{:.3f}", ""),
    ("endpoint_entropy", "classifier entropy at path ends", "{:.3f}", "lower"),
    ("midpoint_entropy_gain", "midpoint minus endpoint entropy", "{:.3f}", ""),
    ("path_confidence_min", "lowest confidence along a path", "{:.3f}", ""),
    ("path_length", "perceptual path length", "{:.1f}", "lower"),
    ("memorisation_ratio", "NN distance to train / held-out", "{:.3f}", "~1"),
    ("copy_share", "samples nearer a training image than 95% of held-out", "{:.3f}", "~0.05"),
    ("sampling_images_per_second", "sampling speed (images/s)", "{:,.0f}", "higher"),
    ("training_seconds", "training time (s)", "{:,.1f}", ""),
]


def _format(template: str, value: Any) -> str:
    if value is None:
        return "n/a"
    try:
        return template.format(value)
    except (ValueError, TypeError):
        return str(value)


def row_note(key: str, result: dict[str, Any]) -> str:
    """What a value should be read against: the real data's own value, a bound, a warning."""
    metrics, reference, details = result["metrics"], result["reference"], result["details"]
    if key == "fid":
        floors = [f"{name.removeprefix('fid_').replace('_', ' ')}: {value:.3f}" for name, value in reference.items()
                  if name.startswith("fid_")]
        return "real " + floors[0] if floors else ""
    if key == "kid_mean":
        return f"± {metrics['kid_std']:.5f} ({details['kid']['subsets']} subsets of {details['kid']['subset_size']})"
    if key == "inception_score":
        real = reference.get("inception_score_real")
        return f"± {metrics['inception_score_std']:.3f}" + (f"; real images: {real:.3f}" if real is not None else "")
    if key == "classes_covered":
        return f"of {details['class_histogram']['classes_total']}"
    if key == "modes_covered":
        note = f"of {details['modes']['modes_total']}"
        if "modes_covered_real" in reference:
            note += f"; real images: {reference['modes_covered_real']}"
        return note
    if key == "nll_nats":
        info = details["likelihood"]
        kind = "exact" if info["exact"] else f"upper bound ({info['estimator']}, k={info['importance_samples']})"
        return f"{kind}, {info['items']} items" + (", binarised" if info["binarized"] else "")
    if key == "parzen_log_likelihood":
        parzen = details["parzen"]
        return f"WEAK estimate (Parzen window, sigma {parzen['sigma']:.3g})"
    if key == "reconstruction_feature_mse" and "feature_variance_real" in reference:
        return f"feature variance of real images: {reference['feature_variance_real']:.5f}"
    if key in ("pixel_entropy", "pixel_mean") and f"{key}_real" in reference:
        return f"real images: {reference[f'{key}_real']:.3f}"
    if key == "sharpness_all_samples":
        return f"real images: {reference['sharpness_real']:.5f} (noise scores high: see the recognised ratio)"
    return ""


# The references shown beside each calibrated metric, in the order of expected quality.
REFERENCE_COLUMNS = ("real", "blurred", "noisy", "one_class", "mean_image", "uniform_noise")


def reference_note(key: str, result: dict[str, Any], template: str) -> str:
    """The calibration references' values of `key` (real, blurred, ... noise), '' when not calibrated."""
    references = (result.get("calibration") or {}).get("references", {})
    parts = [f"{name.replace('_', ' ')} {_format(template, references[name].get(key))}"
             for name in REFERENCE_COLUMNS if name in references and references[name].get(key) is not None]
    return "; ".join(parts)


def evaluation_table(result: dict[str, Any]) -> Table:
    """A rich Table of an `evaluate` result."""
    features = result["features"]
    title = (f"{result['model']} on {result['dataset']} ({result['split']} split): {result['n_samples']} samples vs "
             f"{result['n_real']} real images")
    table = Table(title=title, caption=f"features: {features['description']}", title_justify="left")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column("better")
    table.add_column("compare with")
    metrics = result["metrics"]
    for key, label, template, better in ROWS:
        if key in metrics:
            note = "; ".join(part for part in (row_note(key, result), reference_note(key, result, template)) if part)
            table.add_row(label, _format(template, metrics[key]), better, note)
    for name, reason in result["skipped"].items():
        table.add_row(f"[dim]{name}[/dim]", "[dim]skipped[/dim]", "", f"[dim]{reason}[/dim]")
    return table


def print_evaluation(result: dict[str, Any], console: Console | None = None) -> None:
    """Print the table of an `evaluate` result (and where eval.json went)."""
    console = console or Console()
    console.print(evaluation_table(result))
    calibration = result.get("calibration")
    if calibration:
        console.print(f"references at {calibration['count']} images: "
                      + "; ".join(f"{name.replace('_', ' ')} = {text}" for name, text in calibration["descriptions"].items()))
        console.print(calibration["kid_scale"])
    gate = result.get("quality_gate") or {}
    if gate.get("passed") is not None:
        verdict = "[green]passed[/green]" if gate["passed"] else "[red]FAILED[/red]"
        console.print(f"quality gate {verdict}: {gate['reason']} (rule: {gate['rule']})")
    written = f"; written to {result['eval_json']}" if result.get("eval_json") else ""
    console.print(f"{result['seconds']['total']:.1f} s{written}", soft_wrap=True)  # a path must not wrap
