"""Regularization strong enough to keep the model from learning, read from the model
before any training (a check of the ``setup`` family): a dropout rate far above the
usual, or weight penalties that outweigh the data loss at initialization."""

from __future__ import annotations

import keras

from zoo.checks.base import CheckResult, register
from zoo.data import as_arrays
from zoo.models import leaf_layers
from zoo.outputs import data_loss

_DROPOUTS = (keras.layers.Dropout, keras.layers.SpatialDropout1D, keras.layers.SpatialDropout2D,
             keras.layers.SpatialDropout3D, keras.layers.GaussianDropout,
             keras.layers.AlphaDropout)  # fmt: skip


@register("setup")
def regularization(model, train, *, high_rate: float = 0.5, limit: int = 512) -> CheckResult:
    """Regularization strong enough to keep the model from learning: a dropout rate
    above ``high_rate`` (``Dropout(0.99)`` keeps one feature in a hundred at every
    training step), or weight penalties that outweigh the data loss at initialization
    (the optimizer then shrinks the weights instead of fitting the data). A warning:
    whether it harms is measured by the short trainings, and the diagnosis tries the
    model with the rate at ``high_rate`` (or the penalties a hundred times smaller)."""
    strong = [(la, float(la.rate)) for la in leaf_layers(model)
              if isinstance(la, _DROPOUTS) and float(getattr(la, "rate", 0.0)) > high_rate]
    if strong:
        layer, rate = max(strong, key=lambda pair: pair[1])
        return CheckResult(
            "regularization", True, rate, f"<= {high_rate:g}",
            f"{type(layer).__name__}({rate:g}) ({layer.name}) drops {rate:.0%} of its inputs at "
            f"every training step: what follows it learns from {1 - rate:.0%} of the features, "
            "and the training loss stays high; the usual rates are 0.1 to 0.5",
            status="warn", details={"layer": layer.name, "fix": {
                "dropout": {la.name: high_rate for la, _ in strong}}},
        )  # fmt: skip
    penalty = sum(float(keras.ops.convert_to_numpy(v)) for v in model.losses)
    if penalty > 0:
        x, y = as_arrays(train, limit=limit)
        data = data_loss(model, x, y)

        def strength(layer) -> float:
            reg = getattr(layer, "kernel_regularizer", None)
            return float(getattr(reg, "l1", 0) or 0) + float(getattr(reg, "l2", 0) or 0)

        heaviest = max(leaf_layers(model), key=strength)
        if penalty > data:
            return CheckResult(
                "regularization", True, penalty, f"<= {data:.4g}",
                f"the weight penalties add {penalty:.4g} to the loss at initialization, more "
                f"than the data loss itself ({data:.4g}): the optimizer shrinks the weights "
                "before it fits the data. Lower the L1/L2 factors (1e-4 to 1e-5 are usual)",
                status="warn", details={"fix": {"penalty": 0.01}, "layer": heaviest.name},
            )  # fmt: skip
        return CheckResult("regularization", True, penalty, f"<= {data:.4g}",
                           f"weight penalties {penalty:.4g} at initialization, below the data "
                           f"loss ({data:.4g}); no dropout above {high_rate:g}")  # fmt: skip
    return CheckResult("regularization", True, 0.0, None,
                       f"no dropout above {high_rate:g} and no weight penalty")  # fmt: skip
