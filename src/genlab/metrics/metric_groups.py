"""The metric groups of an evaluation: one `metric_<group>` method per name in METRICS.

`Evaluation` (genlab.metrics.evaluate) inherits them; each reads the evaluation's samples, real images,
features and calibration, and writes its numbers into `metrics`, `details` and `reference`, or the
reason it does not apply into `skipped`.
"""

from __future__ import annotations

import torch

from genlab.config import from_dict
from genlab.data.batches import to_float
from genlab.data.registry import DataConfig
from genlab.errors import GenlabError
from genlab.metrics import (calibration, classifier, fid, latent_attributes, latent_measures, likelihood, memorisation,
                            modes, pixels, prdc, sharpness, spectrum)
from genlab.metrics.reference import real_features, real_prdc_radii

SAMPLE_BATCH = 500


def choose_items(count: int, keep: int, seed: int) -> torch.Tensor:
    """Indices of `keep` of `count` items: all in order when keep >= count, else a seeded choice (sorted)."""
    if keep >= count:
        return torch.arange(count)
    return torch.randperm(count, generator=torch.Generator().manual_seed(seed))[:keep].sort().values


class MetricGroups:
    """The metric groups, as methods of an `Evaluation` (which sets the attributes they read)."""

    def metric_fid(self) -> None:
        self.metrics["fid"] = fid.fid_from_features(self.real_features, self.fake_features)
        normalised = calibration.normalised_fid(self.metrics["fid"], self.calibration)
        if normalised is not None:
            self.metrics["fid_normalised"] = normalised
        other = "train" if self.options.split == "test" else "test"
        other_x, _ = self.dataset.split(other)
        if other_x.shape[0] >= 2:
            keep = choose_items(other_x.shape[0], self.real_x.shape[0], self.options.seed + 1)
            other_features, _, _ = real_features(self.evaluator, other_x[keep])
            # The floor: two real sets of the same sizes never reach 0 (sampling error alone).
            self.reference[f"fid_{other}_vs_{self.options.split}"] = fid.fid_from_features(self.real_features, other_features)

    def metric_kid(self) -> None:
        generator = torch.Generator().manual_seed(self.options.seed)
        result = fid.kernel_inception_distance(self.real_features, self.fake_features, self.options.kid_subsets,
                                               self.options.kid_subset_size, generator)
        self.metrics["kid_mean"], self.metrics["kid_std"] = result["kid_mean"], result["kid_std"]
        self.details["kid"] = {"subsets": result["kid_subsets"], "subset_size": result["kid_subset_size"],
                               "kernel": "(x.y/d + 1)^3"}

    def metric_prdc(self) -> None:
        radii = real_prdc_radii(self.evaluator, self.real_x, self.real_features)  # cached with the reference features
        self.metrics.update(prdc.prdc(self.real_features, self.fake_features, real_radii_by_k=radii))
        self.details["prdc"] = {"precision_recall_k": prdc.PRECISION_RECALL_K, "density_coverage_k": prdc.DENSITY_COVERAGE_K}

    def metric_classifier(self) -> None:
        if self.fake_probabilities is None:
            self.skipped["classifier"] = f"the {self.evaluator.kind} evaluator has no classes"
            return
        score = classifier.inception_score(self.fake_probabilities)
        self.metrics["inception_score"], self.metrics["inception_score_std"] = score["inception_score"], score["inception_score_std"]
        if self.real_probabilities is not None:
            self.reference["inception_score_real"] = classifier.inception_score(self.real_probabilities)["inception_score"]
        if self.options.features == "inception":
            return  # ImageNet classes say nothing about the data's class distribution
        histogram = classifier.class_histogram(self.fake_probabilities.argmax(1), self.evaluator.num_classes,
                                               self.class_distribution())
        self.metrics["classes_covered"] = histogram["classes_covered"]
        self.metrics["class_kl"] = histogram["class_kl"]
        self.details["class_histogram"] = {
            "counts": histogram["class_counts"] if self.evaluator.num_classes <= 100 else None,
            "classes_total": histogram["classes_total"],
            "covered_rule": f"at least {classifier.COVERED_FRACTION_OF_SHARE:.0%} of the class's share in the data",
            "kl": "KL(sample classes || data classes), nats",
        }
        if self.requested_labels is not None:
            self.metrics["conditional_accuracy"] = classifier.conditional_accuracy(self.fake_probabilities, self.requested_labels)

    def metric_likelihood(self) -> None:
        if not self.model.has_likelihood:
            self.skipped["likelihood"] = f"{self.run.config['model']['name']} has no log_likelihood (use the Parzen estimate)"
            return
        keep = choose_items(self.real_x.shape[0], self.options.likelihood_items, self.options.seed + 2)
        x = to_float(self.real_x[keep]).to(self.model.device)
        labels = self.real_y[keep].to(self.model.device)
        try:
            result = likelihood.model_likelihood(self.model, x, labels, k=self.options.likelihood_k, seed=self.options.seed)
        except GenlabError as error:
            self.skipped["likelihood"] = str(error)
            return
        self.metrics["nll_nats"] = result["nll_nats"]
        self.metrics["nll_bits_per_dim"] = result["bits_per_dim"]
        self.metrics["nll_unlabelled_nats"] = result["nll_unlabelled_nats"]  # comparable across (un)conditional models
        self.details["likelihood"] = result

    def metric_parzen(self) -> None:
        count = min(self.options.parzen_items, self.real_x.shape[0])
        order = choose_items(self.real_x.shape[0], count, self.options.seed + 3)
        order = order[torch.randperm(order.numel(), generator=torch.Generator().manual_seed(self.options.seed + 4))]
        half = order.numel() // 2
        real = to_float(self.real_x)
        result = likelihood.parzen_log_likelihood(self.samples, real[order[:half]], real[order[half:]],
                                                  images=not self.is_points)
        self.metrics["parzen_log_likelihood"] = result["log_likelihood_nats"]
        if "bits_per_dim" in result:
            self.metrics["parzen_bits_per_dim"] = result["bits_per_dim"]
        self.details["parzen"] = result

    def metric_modes(self) -> None:
        info = self.dataset.info
        if "modes" in info and self.is_points:
            result = modes.toy2d_modes(self.samples, info["modes"], float(info["std"]))
            self.metrics["modes_covered"] = result["modes_covered"]
            self.metrics["high_quality_share"] = result["high_quality_share"]
            self.metrics["mode_kl_to_uniform"] = result["mode_kl_to_uniform"]
            self.details["modes"] = {**result, "rule": "high quality: within 3 std of a mode; covered: PacGAN's 20 of 2,500"}
        elif self.evaluator.kind == "per-channel" and self.fake_probabilities is not None:
            result = modes.stacked_modes(self.fake_probabilities.argmax(1), self.evaluator.num_classes)
            self.metrics["modes_covered"] = result["modes_covered"]
            self.metrics["mode_kl_to_uniform"] = result["mode_kl_to_uniform"]
            if self.real_probabilities is not None:
                real = modes.stacked_modes(self.real_probabilities.argmax(1), self.evaluator.num_classes)
                self.reference["modes_covered_real"] = real["modes_covered"]
            self.details["modes"] = {**result, "rule": "covered: at least one sample (PacGAN protocol)",
                                     "samples": int(self.samples.shape[0])}
        else:
            self.skipped["modes"] = "known modes only on toy2d and stacked-mnist"

    def metric_reconstruction(self) -> None:
        x = to_float(self.real_x)
        if not self.model.has_encoder:
            self.skipped["reconstruction"] = f"{self.run.config['model']['name']} has no encoder"
            return
        labels = self.real_y if self.model.conditional else None
        parts = []
        with torch.no_grad():
            for start in range(0, x.shape[0], SAMPLE_BATCH):
                batch_labels = None if labels is None else labels[start : start + SAMPLE_BATCH].to(self.model.device)
                inputs = x[start : start + SAMPLE_BATCH].to(self.model.device)
                parts.append(self.model.reconstruct(inputs, batch_labels).cpu().reshape(inputs.shape))
        reconstructions = torch.cat(parts)
        self.metrics["reconstruction_mse"] = float((reconstructions - x).square().mean())
        if not self.is_points:
            features = self.evaluator.features(reconstructions.clamp(0, 1))
            self.metrics["reconstruction_feature_mse"] = float((features - self.real_features).square().mean())
            self.reference["feature_variance_real"] = float(self.real_features.var(0).mean())

    def metric_sharpness(self) -> None:
        if self.is_points:
            self.skipped["sharpness"] = "points have no pixels"
            return
        result = sharpness.sharpness(self.samples, self.real_x)
        # The raw variance of the Laplacian of every sample (noise scores high: it is not "sharp").
        self.metrics["sharpness_all_samples"] = result["sharpness"]
        self.reference["sharpness_real"] = result["sharpness_real"]
        # What claims use: only samples the evaluator recognises, as a ratio to the real images', and only
        # for a run that passes the quality gate (a model that did not learn the data has no sharpness).
        if self.calibration is None:
            self.details["sharpness"] = "not measured: no calibration references for this evaluator"
            return
        # The gate needs the FID; computed here only when `fid` was not among the metrics asked for.
        measured = self.metrics if "fid" in self.metrics else \
            {"fid": fid.fid_from_features(self.real_features, self.fake_features), **self.metrics}
        gate = calibration.quality_gate(measured, self.calibration)
        mask = calibration.recognised(self.fake_features, self.fake_probabilities, self.real_features,
                                      self.calibration["recognition_radius"])
        recognised = calibration.recognised_sharpness(self.samples, self.real_x, mask)
        self.metrics["recognised_share"] = recognised["recognised_share"]
        if gate["passed"] is False:
            self.details["sharpness"] = f"not measured: the run fails the quality gate ({gate['reason']})"
        elif recognised["sharpness_ratio"] is None:
            self.details["sharpness"] = (f"not measured: only {recognised['recognised_share']:.0%} of the samples are "
                                         f"recognised by the evaluator (at least {calibration.RECOGNISED_MIN_SHARE:.0%} needed)")
        else:
            self.metrics["sharpness_ratio"] = recognised["sharpness_ratio"]
            self.metrics["sharpness_log_error"] = recognised["sharpness_log_error"]
            self.details["sharpness"] = (f"variance of the Laplacian of the {recognised['recognised_share']:.0%} of samples "
                                         f"the evaluator recognises, divided by the real images'")

    def metric_spectrum(self) -> None:
        if self.is_points:
            self.skipped["spectrum"] = "points have no pixels"
            return
        self.metrics.update(spectrum.spectrum_measures(self.samples, self.real_x))
        self.details["spectrum"] = ("radially averaged power spectrum (greyscale, mean removed): mean |log10 ratio| "
                                    "in the lowest / highest third of frequencies; checkerboard: Nyquist power share / real")

    def metric_pixels(self) -> None:
        if self.is_points:
            self.skipped["pixels"] = "points have no pixels"
            return
        self.metrics.update(pixels.pixel_measures(self.samples))
        self.reference.update({f"{key}_real": value for key, value in pixels.pixel_measures(self.real_x).items()})

    def metric_latent(self) -> None:
        measures, left_out = latent_measures.latent_measures(self.model, self.evaluator, self.real_x, self.real_y,
                                                             seed=self.options.seed)
        self.metrics.update(measures)
        self.skipped.update(left_out)
        if measures:
            self.details["latent"] = {"paths": latent_measures.PATHS, "path_points": latent_measures.PATH_POINTS,
                                      "path_length": "sum over 10 steps of squared feature distance / 0.1^2, mean over paths"}

    def metric_latent_control(self) -> None:
        from genlab.latent.common import has_latent_space

        if self.is_points or not has_latent_space(self.model) or self.model.conditional or self.model.latent_dim < 3:
            self.skipped["latent_control"] = "needs an unconditional image model with decode(z) and a latent of 3+ dimensions"
            return
        result = latent_attributes.latent_attribute_control(self.model, seed=self.options.seed)
        self.metrics["latent_control_ratio"] = result["control_ratio"]
        self.metrics["latent_axis_alignment"] = result["axis_alignment"]
        self.details["latent_control"] = {key: value for key, value in result.items() if key not in ("control_ratio", "axis_alignment")}

    def training_images(self) -> torch.Tensor:
        """The clean images of the run's training split: the same seeded `subset` it trained on."""
        from genlab.data.transforms import choose_subset

        trained_on = from_dict(DataConfig, self.run.config["data"])
        return choose_subset(self.dataset.train_x, self.dataset.train_y, trained_on.subset, trained_on.seed)[0]

    def metric_memorisation(self) -> None:
        train_x = self.training_images()
        if self.options.split == "test":
            heldout_x, heldout_features = self.real_x, self.real_features
        else:
            test_x, _ = self.dataset.split("test")
            heldout_x = test_x[choose_items(test_x.shape[0], self.options.n, self.options.seed + 5)]
            heldout_features = real_features(self.evaluator, heldout_x)[0]
        count = min(train_x.shape[0], heldout_x.shape[0])
        if count < 2:
            self.skipped["memorisation"] = "fewer than 2 training or held-out images"
            return
        # Equal counts on both sides: nearest neighbours in a bigger set are nearer by chance alone.
        train_x = train_x[choose_items(train_x.shape[0], count, self.options.seed + 6)]
        train_features = real_features(self.evaluator, train_x)[0]  # cached like the real split's
        heldout_features = heldout_features[choose_items(heldout_features.shape[0], count, self.options.seed + 7)]
        result = memorisation.memorisation(self.fake_features, train_features, heldout_features)
        self.metrics["memorisation_ratio"], self.metrics["copy_share"] = result["memorisation_ratio"], result["copy_share"]
        self.details["memorisation"] = {"images_per_side": count, "copy_threshold": result["copy_threshold"],
                                        "rule": "copy: nearest training image nearer than 95% of held-out images' are"}

    def metric_speed(self) -> None:
        self.metrics["sampling_images_per_second"] = self.samples.shape[0] / max(self.sample_seconds, 1e-9)
        training_seconds = self.run.config.get("training_seconds")
        if training_seconds is not None:
            self.metrics["training_seconds"] = float(training_seconds)
        self.details["speed"] = {"samples": int(self.samples.shape[0]), "sampling_seconds": self.sample_seconds,
                                 "device": str(self.model.device), "training_steps": self.run.config.get("final_step")}
