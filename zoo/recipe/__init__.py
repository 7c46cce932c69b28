"""``zoo recipe``: the recipe's stages in order on one data set, one short function per
stage (``zoo.recipe.main``). The sanity checks it runs live in ``zoo.checks``; they are
named here too, where the recipe's users look for them."""

from zoo.checks import (
    ALL_CHECKS,
    CheckResult,
    ChecksReport,
    batch_independence,
    dumb_baseline,
    expected_initial_loss,
    input_independent_baseline,
    loss_at_init,
    loss_decreasing,
    overfit_one_batch,
    reproducibility,
    run_checks,
)
from zoo.outputs import init_output_bias

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
