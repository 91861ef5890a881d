"""Evaluation that can be trusted: evaluator networks, FID/KID, precision/recall/density/coverage,
classifier metrics, likelihoods, modes, reconstruction, sharpness, power spectrum, pixel statistics,
latent-space and memorisation measures, and speed.

    import genlab
    result = genlab.evaluate("runs/vae", n=10000)          # also writes runs/vae/eval.json
    result["metrics"]["fid"], result["metrics"]["precision"]

Every metric is checked against a case whose answer is known (tests/metrics/).
"""

from genlab.metrics.evaluate import DEFAULT_METRICS, METRICS, EvaluationOptions, evaluate
from genlab.metrics.evaluator import Evaluator, get_evaluator
from genlab.metrics.fid import fid_from_features, frechet_distance, kernel_inception_distance
from genlab.metrics.table import evaluation_table, print_evaluation

__all__ = [
    "DEFAULT_METRICS",
    "METRICS",
    "EvaluationOptions",
    "Evaluator",
    "evaluate",
    "evaluation_table",
    "fid_from_features",
    "frechet_distance",
    "get_evaluator",
    "kernel_inception_distance",
    "print_evaluation",
]
