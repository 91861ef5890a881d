"""Typed configs: unknown keys and ill-typed values fail with one clear line."""

from __future__ import annotations

import pytest

import genlab
from genlab.config import from_dict, parse_overrides, read_yaml, to_dict
from genlab.errors import GenlabError
from genlab.models.vae import VAEConfig


def test_values_are_checked_and_coerced():
    config = from_dict(VAEConfig, {"hidden_dims": [256, 128], "latent_dim": 2, "kl_weight": 1, "likelihood": "gaussian"})
    assert config.hidden_dims == (256, 128)
    assert config.kl_weight == 1.0 and isinstance(config.kl_weight, float)
    assert to_dict(config)["hidden_dims"] == [256, 128]


@pytest.mark.parametrize(
    "values, message",
    [
        ({"latent_dimm": 2}, "unknown config key 'latent_dimm'"),
        ({"latent_dim": "two"}, "must be a whole number"),
        ({"latent_dim": 2.5}, "must be a whole number"),
        ({"likelihood": "poisson"}, "must be one of"),
        ({"batch_norm": "yes"}, "must be true or false"),
        ({"hidden_dims": 400}, "must be a list"),
        ({"latent_dim": 0}, "latent_dim must be at least 1"),
    ],
)
def test_bad_values_raise_one_line_errors(values, message):
    with pytest.raises(GenlabError, match=message) as error:
        from_dict(VAEConfig, values)
    assert "\n" not in str(error.value)


def test_create_model_rejects_unknown_names_and_keys():
    with pytest.raises(GenlabError, match="unknown model 'vea'"):
        genlab.create_model("vea")
    with pytest.raises(GenlabError, match="unknown config key"):
        genlab.create_model("dcgan", nz=10)


def test_overrides_are_read_as_yaml_values():
    assert parse_overrides(["latent_dim=2", "hidden_dims=[64, 32]", "batch_norm=true", "likelihood=gaussian"]) == {
        "latent_dim": 2, "hidden_dims": [64, 32], "batch_norm": True, "likelihood": "gaussian"}
    with pytest.raises(GenlabError, match="key=value"):
        parse_overrides(["latent_dim"])


def test_yaml_errors_are_clear(tmp_path):
    with pytest.raises(GenlabError, match="not found"):
        read_yaml(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [1, 2\n")
    with pytest.raises(GenlabError, match="not valid YAML"):
        read_yaml(bad)
    listing = tmp_path / "list.yaml"
    listing.write_text("- 1\n- 2\n")
    with pytest.raises(GenlabError, match="mapping"):
        read_yaml(listing)
