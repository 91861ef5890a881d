"""Comparison studies: YAML specs of many runs, local or Ray executors, and the HTML report."""

from genlab.studies.runner import run_study
from genlab.studies.spec import builtin_studies, load_spec

__all__ = ["builtin_studies", "load_spec", "run_study"]
