"""The recipe's checks: each a function returning a ``CheckResult`` (``sanity``), and
``run_checks``, which runs them in order on models from a ``build`` callable
(``runner``). ``zoo recipe`` and the templates call them; nothing below
``zoo.checks`` imports it."""

from zoo.checks.program import RecipeChecks, check
from zoo.checks.runner import ALL_CHECKS, ChecksReport, run_checks
from zoo.checks.sanity import (
    CheckResult,
    batch_independence,
    best_initial_loss,
    dumb_baseline,
    expected_initial_loss,
    input_independent_baseline,
    loss_at_init,
    loss_decreasing,
    overfit_one_batch,
    reproducibility,
)

__all__ = [
    "ALL_CHECKS",
    "CheckResult",
    "ChecksReport",
    "RecipeChecks",
    "batch_independence",
    "check",
    "best_initial_loss",
    "dumb_baseline",
    "expected_initial_loss",
    "input_independent_baseline",
    "loss_at_init",
    "loss_decreasing",
    "overfit_one_batch",
    "reproducibility",
    "run_checks",
]
