"""Study specs: models x datasets (with corruptions) x seeds x a budget, read from YAML.

A spec names what to run and what to report; `expand_runs` turns it into the list of runs. Built-in
studies live in `builtin/*.yaml` and are found by name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from genlab.config import from_dict, read_yaml
from genlab.errors import GenlabError

BUILTIN_DIR = Path(__file__).parent / "builtin"


@dataclass
class ModelEntry:
    """One model of a study: a registered name, an optional label and config overrides."""

    name: str
    label: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    # This model's own budgets by name, replacing the study's (a GAN needs minutes where a VAE needs
    # seconds: `budgets: {quick: {minutes: 2.5}}`); budgets it does not name are the study's.
    budgets: dict[str, "Budget"] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return self.label or self.name


@dataclass
class DatasetEntry:
    """One dataset of a study: its DataConfig fields (subset, resize, corruption, options, ...)."""

    name: str
    label: str | None = None
    subset: int | None = None
    test_subset: int | None = None
    resize: int | None = None
    channels: int | None = None
    corruption: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    # Another dataset for when this one is not on disk (`lfw` -> `faces-lfw`): a name, or fields over this
    # entry's. The runs keep this entry's key; see genlab.studies.fallback.
    fallback: str | dict[str, Any] | None = None

    @property
    def key(self) -> str:
        if self.label:
            return self.label
        return self.name + (f"+{self.corruption}" if self.corruption else "")

    def data_config(self) -> dict[str, Any]:
        values = {k: getattr(self, k) for k in ("name", "subset", "test_subset", "resize", "channels", "corruption")}
        return {k: v for k, v in values.items() if v is not None} | ({"options": self.options} if self.options else {})


@dataclass
class Budget:
    """How long each run trains: the first of steps / minutes to run out, and how often to checkpoint."""

    steps: int | None = None
    minutes: float | None = None
    checkpoints: int = 4  # evaluated along training for quality-over-time and stability

    def validate(self) -> None:
        if self.steps is None and self.minutes is None:
            raise GenlabError("a study budget needs steps or minutes")


CLAIM_KINDS = ("compare", "trend", "equivalent", "threshold", "checkpoint_trend")


@dataclass
class Claim:
    """A claim a study tests (the schema shared with the claims ledger, see README "Claims ledger").

    kind "compare": mean(metric over runs matching `a`) is better than over `b`.
    kind "trend": for runs matching `a`, the metric moves in `direction` along the ordered `levels`
    of the dataset key (e.g. corruption levels).
    kind "equivalent": no real difference between `a` and `b` (|mean A - mean B| within `margin` /
    `relative_margin`, or within the seed spread when neither is given).
    kind "threshold": the mean over `a` is better than the fixed value `threshold`.
    kind "checkpoint_trend": for each run matching `a`, the metric moves in `direction` over its
    checkpoints (result.json over_training), averaged over runs.
    Every claim names where it comes from: a ledger `id` (C1..C47) or, for a claim no report makes, a
    `source`. Close values are decided by the multi-seed rule in genlab.studies.claims.
    """

    text: str
    metric: str
    kind: str = "compare"  # one of CLAIM_KINDS (a str, so an unknown kind gets a message naming the kinds)
    id: str | None = None  # the ledger id, C1..C47 (see genlab.studies.ledger)
    source: str | None = None  # where a claim with no ledger id comes from
    higher_is_better: bool = True
    a: dict[str, Any] = field(default_factory=dict)  # filters: model, dataset, family (lists allowed)
    b: dict[str, Any] = field(default_factory=dict)
    levels: list[str] = field(default_factory=list)  # trend: dataset keys in order
    direction: Literal["increasing", "decreasing"] = "decreasing"
    margin: float = 0.0  # compare: a must beat b by more than this (metric units); equivalent: |a - b| <= this
    relative_margin: float = 0.0  # the same as a share of the larger |mean| (equivalent: 0.1 = within 10%)
    threshold: float | None = None  # threshold kind: the value the mean over `a` must beat
    # With one value on a side, a difference decides only above this share of the larger |mean|.
    min_effect: float = 0.1
    # Which runs must pass the quality gate to take part: "all" (a trend: the runs at its first level),
    # "a" (only the side claimed better: for a baseline expected not to learn the data, whose failing the
    # gate is part of the evidence) or "none" (claims about failure itself).
    gate: Literal["all", "a", "none"] = "all"

    @property
    def label(self) -> str:
        """How the claim is named in messages: its id, else the start of its text."""
        return self.id or (self.text if len(self.text) <= 50 else self.text[:47] + "...")

    def validate(self) -> None:
        if self.kind not in CLAIM_KINDS:
            raise GenlabError(f"claim '{self.label}' has unknown kind '{self.kind}'; use one of {', '.join(CLAIM_KINDS)}")
        if self.id is not None and not re.fullmatch(r"C[1-9][0-9]*", self.id):
            raise GenlabError(f"claim '{self.label}' has id {self.id!r}; a ledger id is C1..C47 (or give a source instead)")
        if self.id is None and not (self.source or "").strip():
            raise GenlabError(f"claim '{self.label}' names no origin; give it a ledger id (id: C15) or a source "
                              f"(source: \"where the claim comes from\")")
        if self.kind in ("compare", "equivalent") and not self.b:
            raise GenlabError(f"claim '{self.label}' of kind {self.kind} needs a group b to compare with (b: {{model: ...}})")
        if self.kind == "trend" and len(self.levels) < 2:
            raise GenlabError(f"claim '{self.label}' of kind trend needs at least two levels (levels: [dataset keys in order])")
        if self.kind == "threshold" and self.threshold is None:
            raise GenlabError(f"claim '{self.label}' of kind threshold needs a value (threshold: 0.9)")
        if self.margin < 0 or self.relative_margin < 0 or self.min_effect < 0:
            raise GenlabError(f"claim '{self.label}': margin, relative_margin and min_effect must be >= 0")


@dataclass
class StudySpec:
    """A whole study as read from YAML."""

    name: str
    description: str = ""
    models: list[ModelEntry] = field(default_factory=list)
    datasets: list[DatasetEntry] = field(default_factory=list)
    seeds: list[int] = field(default_factory=lambda: [0])
    budgets: dict[str, Budget] = field(default_factory=dict)
    metrics: list[str] = field(default_factory=list)  # passed to genlab.evaluate; empty = its defaults
    eval_samples: int = 2000
    # Options of genlab.evaluate for every evaluation of the study, e.g. {likelihood_items: 500, likelihood_k: 20}
    # (an autoregressive decoder's likelihood over 2,000 images x 100 importance samples costs minutes on a CPU).
    evaluate_options: dict[str, Any] = field(default_factory=dict)
    checkpoint_metrics: list[str] = field(default_factory=lambda: ["fid"])
    # Time to reach a quality: {fid: 30}, or a calibration reference's value of the metric, {fid: blurred}.
    quality_threshold: dict[str, float | str] = field(default_factory=dict)
    claims: list[Claim] = field(default_factory=list)
    interpolations: bool = True

    def validate(self) -> None:
        if not re.fullmatch(r"[a-z0-9][a-z0-9_.-]*", self.name):
            raise GenlabError(f"study name {self.name!r} must be lower-case letters, digits, '-', '_' or '.'")
        if not self.models or not self.datasets:
            raise GenlabError(f"study '{self.name}' needs at least one model and one dataset")
        if not self.budgets:
            raise GenlabError(f"study '{self.name}' needs a budget (budgets: {{quick: {{steps: ...}}}})")
        keys = [m.key for m in self.models]
        if len(set(keys)) != len(keys):
            raise GenlabError(f"study '{self.name}' lists a model twice; give one of them a label")


@dataclass
class RunSpec:
    """One run of a study: a model on a dataset with a seed and a budget, in its own folder."""

    study: str
    model: ModelEntry
    dataset: DatasetEntry
    seed: int
    budget: Budget
    run_dir: Path
    metrics: list[str]
    eval_samples: int
    checkpoint_metrics: list[str]
    evaluate_options: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.model.key}__{self.dataset.key}__seed{self.seed}".replace(":", "-").replace("/", "-")


def builtin_studies() -> dict[str, Path]:
    """Names of the built-in studies and their YAML files."""
    return {path.stem: path for path in sorted(BUILTIN_DIR.glob("*.yaml"))}


def load_spec(name_or_path: str | Path) -> StudySpec:
    """A built-in study by name, or a spec file by path."""
    path = Path(name_or_path)
    if not path.is_file():
        studies = builtin_studies()
        if str(name_or_path) not in studies:
            raise GenlabError(f"no study file or built-in study named '{name_or_path}'; built-in: {', '.join(studies)}")
        path = studies[str(name_or_path)]
    values = read_yaml(path)
    values.setdefault("name", path.stem)
    # A bare name stands for an entry with only that name: `- vae` is `- {name: vae}`.
    for key in ("models", "datasets"):
        values[key] = [entry if isinstance(entry, dict) else {"name": entry} for entry in values.get(key) or []]
    return from_dict(StudySpec, values)


def choose_budget(spec: StudySpec, budget: str | None, steps: int | None = None, minutes: float | None = None) -> Budget:
    """The named budget of the spec, or an explicit one from steps/minutes."""
    if steps is not None or minutes is not None:
        return Budget(steps=steps, minutes=minutes)
    name = budget or ("quick" if "quick" in spec.budgets else next(iter(spec.budgets)))
    if name not in spec.budgets:
        raise GenlabError(f"study '{spec.name}' has no budget '{name}'; it has {', '.join(spec.budgets)}")
    return spec.budgets[name]


def budget_name(spec: StudySpec, budget: str | None, steps: int | None = None, minutes: float | None = None) -> str | None:
    """The name of the budget `choose_budget` picks (None for an explicit steps/minutes budget)."""
    if steps is not None or minutes is not None:
        return None
    return budget or ("quick" if "quick" in spec.budgets else next(iter(spec.budgets)))


def expand_runs(spec: StudySpec, budget: Budget, out: Path, name: str | None = None) -> list[RunSpec]:
    """Every (model, dataset, seed) run of the study, each with its own folder under `out/runs`.

    `name`: the budget's name, under which a model may have its own (an explicit budget has none)."""
    from genlab.models.registry import list_models

    known = set(list_models())
    missing = sorted({m.name for m in spec.models} - known)
    if missing:
        raise GenlabError(f"study '{spec.name}' needs model(s) not in this genlab: {', '.join(missing)} (see `genlab models`)")
    runs = []
    for dataset in spec.datasets:
        for model in spec.models:
            for seed in spec.seeds:
                own = model.budgets.get(name, budget) if name else budget
                run = RunSpec(spec.name, model, dataset, seed, own, Path(), spec.metrics, spec.eval_samples,
                              spec.checkpoint_metrics, dict(spec.evaluate_options))
                run.run_dir = out / "runs" / run.key
                runs.append(run)
    return runs
