"""The vae-likelihood, data-scaling and latent studies: specs load, expand to the runs their claims need,
every claim names its ledger id, and every metric group they ask for exists."""

from __future__ import annotations

from pathlib import Path

import pytest

from genlab.metrics.evaluate import ALIASES, parse_metrics
from genlab.metrics.evaluator import clean_data_config
from genlab.studies.spec import budget_name, choose_budget, expand_runs, load_spec


# Claim metrics whose group ALIASES does not name (the group reports them under another name).
CLAIM_METRIC_GROUPS = {"fid": "fid", "sharpness_log_error": "sharpness"}


def quick_runs(name: str) -> dict[str, object]:
    spec = load_spec(name)
    return {run.key: run for run in expand_runs(spec, choose_budget(spec, "quick"), Path("unused"),
                                                  budget_name(spec, "quick"))}


@pytest.mark.parametrize("name, ids", [("vae-likelihood", {"C3", "C15"}), ("data-scaling", {"C9"}),
                                       ("latent", {"C20", "C21", "C22"})])
def test_claims_carry_ledger_ids_and_name_measured_metrics(name, ids):
    spec = load_spec(name)
    assert {claim.id for claim in spec.claims} == ids
    groups = parse_metrics(spec.metrics)  # raises on a metric group genlab does not have
    for claim in spec.claims:
        assert CLAIM_METRIC_GROUPS.get(claim.metric, ALIASES.get(claim.metric)) in groups, claim.metric
        models = {run.model.key for run in expand_runs(spec, choose_budget(spec, "quick"), Path("unused"))}
        for side in (claim.a, claim.b):
            wanted = side.get("model")
            assert not wanted or set([wanted] if isinstance(wanted, str) else wanted) <= models


def test_vae_likelihood_differs_only_in_the_decoder_likelihood_and_pairs_conv_with_mlp_at_latent_2():
    runs = quick_runs("vae-likelihood")
    assert len(runs) == 10 and {run.seed for run in runs.values()} == {0, 1}
    configs = {run.model.key: run.model.config for run in runs.values()}
    assert configs["vae-bernoulli"] == {"likelihood": "bernoulli"}
    assert configs["vae-laplace"] == {"likelihood": "laplace"}
    assert configs["vae-gaussian"]["likelihood"] == "gaussian"
    assert runs["conv-vae-2d__mnist-5k__seed0"].model.name == "conv-vae"
    assert configs["conv-vae-2d"]["latent_dim"] == configs["vae-2d"]["latent_dim"] == 2
    assert configs["vae-2d"]["batch_norm"] is True  # conv-vae has batch norm by default
    equivalent = [claim for claim in load_spec("vae-likelihood").claims if claim.kind == "equivalent"]
    assert {claim.metric for claim in equivalent} == {"fid", "nll_nats"}
    assert all(claim.relative_margin > 0 for claim in equivalent)


def test_data_scaling_subsets_only_the_training_split_and_is_judged_on_the_full_data():
    runs = quick_runs("data-scaling")
    assert len(runs) == 6
    sizes = {run.dataset.key: run.dataset.subset for run in runs.values()}
    assert sizes == {"mnist-4000": None, "mnist-1000": 1000, "mnist-250": 250}
    assert {run.budget.steps for run in runs.values() if run.model.name == "dcgan"} == {2500}
    assert {run.budget.steps for run in runs.values() if run.model.name == "vae"} == {1500}
    from genlab.config import from_dict
    from genlab.data.registry import DataConfig, load_dataset

    small = from_dict(DataConfig, runs["vae__mnist-250__seed0"].dataset.data_config())
    data = load_dataset(small)
    assert data.train_x.shape[0] == 250 and data.test_x.shape[0] == 1000  # the test split is untouched
    judged = clean_data_config(small)  # what the evaluator and the real images come from
    assert judged.subset is None and judged.test_subset is None
    trend_levels = [claim.levels for claim in load_spec("data-scaling").claims if claim.kind == "trend"]
    assert trend_levels == [["mnist-4000", "mnist-1000", "mnist-250"]] * 2  # the full data first: the gated level


def test_latent_study_has_a_2d_vae_a_2d_autoencoder_and_a_gan():
    runs = quick_runs("latent")
    assert {key.split("__")[0] for key in runs} == {"vae-2d", "autoencoder-2d", "dcgan"}
    assert runs["vae-2d__mnist-5k__seed0"].model.config["latent_dim"] == 2
    assert runs["autoencoder-2d__mnist-5k__seed0"].model.config["latent_dim"] == 2
    assert {"latent", "latent_control"} <= set(parse_metrics(load_spec("latent").metrics))
    autoencoder_claims = [claim for claim in load_spec("latent").claims if claim.b.get("model") == "autoencoder-2d"]
    assert autoencoder_claims and all(claim.gate == "a" for claim in autoencoder_claims)
