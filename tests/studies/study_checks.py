"""Checks shared by the tests of the built-in studies: a study's quick runs, and claims that point at them."""

from __future__ import annotations

from pathlib import Path

from genlab.studies.spec import budget_name, builtin_studies, choose_budget, expand_runs, load_spec


def quick_runs(name: str):
    """(spec, runs) of a built-in study at its quick budget."""
    spec = load_spec(builtin_studies()[name])
    return spec, expand_runs(spec, choose_budget(spec, "quick"), Path("unused"), budget_name(spec, "quick"))


def assert_claims_use_their_runs(spec, runs, expected_ids: set[str]) -> None:
    """Every claim validates (an id or a source, a known kind, the fields its kind needs), the study tests
    exactly `expected_ids`, and each claim's levels and filters name datasets and models the study runs."""
    for claim in spec.claims:
        claim.validate()
    assert {claim.id for claim in spec.claims if claim.id} == expected_ids
    model_keys = {run.model.key for run in runs} | {run.model.name for run in runs}
    dataset_keys = {run.dataset.key for run in runs}
    for claim in spec.claims:
        assert set(claim.levels) <= dataset_keys, claim.text
        for group in (claim.a, claim.b):
            for field, known in (("model", model_keys), ("dataset", dataset_keys)):
                wanted = group.get(field, [])
                assert set(wanted if isinstance(wanted, list) else [wanted]) <= known, (claim.text, field)
