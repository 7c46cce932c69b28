"""``zoo recipe``: the recipe's stages in order on one data set, one short function per
stage (``zoo.recipe.main``). The sanity checks it runs live in ``zoo.checks``; they are
named here too, where the recipe's users look for them."""

from zoo.checks import *  # noqa: F403
from zoo.checks import __all__ as _checks
from zoo.outputs import init_output_bias

__all__ = [*_checks, "init_output_bias"]
