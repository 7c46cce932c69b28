"""The recipe's checks: each a function returning a ``CheckResult`` (``base``: the
result, the registry, the shared helpers and the rule "a FAIL needs measured harm"),
one module per family (``setup``, ``init``, ``training``, ``baseline``,
``independence``, ``layers``), every private Keras name they touch in ``keras_private``, and
``run_checks``, which runs them in order on models from a ``build`` callable
(``runner``). ``zoo recipe`` and the templates call them; nothing below
``zoo.checks`` imports it."""

from zoo.checks.base import CHECKS, CheckResult
from zoo.checks.baseline import dumb_baseline, input_independent_baseline
from zoo.checks.independence import batch_independence
from zoo.checks.init import best_initial_loss, expected_initial_loss, loss_at_init
from zoo.checks.program import RecipeChecks, check
from zoo.checks.runner import ALL_CHECKS, ChecksReport, run_checks
from zoo.checks.training import (
    inference_mode,
    loss_decreasing,
    overfit_one_batch,
    reproducibility,
)

__all__ = [
    "ALL_CHECKS",
    "CHECKS",
    "CheckResult",
    "ChecksReport",
    "RecipeChecks",
    "batch_independence",
    "check",
    "best_initial_loss",
    "dumb_baseline",
    "expected_initial_loss",
    "inference_mode",
    "input_independent_baseline",
    "loss_at_init",
    "loss_decreasing",
    "overfit_one_batch",
    "reproducibility",
    "run_checks",
]
