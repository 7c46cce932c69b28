"""The recipe as code: sanity checks that catch a silently wrong training setup before
a long run (``checks``), ``run_checks`` to run them all, and ``run_recipe``, the main
job behind ``zoo recipe``."""

from zoo.recipe.checks import (
    CheckResult,
    batch_independence,
    dumb_baseline,
    expected_initial_loss,
    init_output_bias,
    input_independent_baseline,
    loss_at_init,
    loss_decreasing,
    overfit_one_batch,
    reproducibility,
)
from zoo.recipe.runner import ALL_CHECKS, ChecksReport, run_checks

__all__ = [
    "ALL_CHECKS",
    "CheckResult",
    "ChecksReport",
    "batch_independence",
    "dumb_baseline",
    "expected_initial_loss",
    "init_output_bias",
    "input_independent_baseline",
    "loss_at_init",
    "loss_decreasing",
    "overfit_one_batch",
    "reproducibility",
    "run_checks",
]
