"""Batch independence (``batch_independence``): each example's output depends on its
own input only, read through input gradients (or, for token ids, by replacing the
rest of the batch)."""

from __future__ import annotations

import keras
import numpy as np

from zoo.checks.base import CheckResult, input_gradient, register
from zoo.data import as_arrays

FAMILY = "independence"


def _replaced_others(model, x: np.ndarray) -> list[float]:
    """For inputs with no gradient (token ids): how much each example's output moves
    when every other example of the batch is replaced by another input."""
    out = keras.ops.convert_to_numpy(model(x, training=False)).reshape(len(x), -1)
    other = x[np.roll(np.arange(len(x)), 1)]
    moved = []
    for i in range(len(x)):
        changed = other.copy()
        changed[i] = x[i]
        row = keras.ops.convert_to_numpy(model(changed, training=False)).reshape(len(x), -1)[i]
        moved.append(float(np.abs(row - out[i]).max() / max(np.abs(out[i]).max(), 1e-12)))
    return moved


def mixing_layer(model, x: np.ndarray) -> str | None:
    """The first layer of a Sequential model whose output for an example differs when
    it is computed within the batch rather than alone (inference mode): where examples
    mix. None for other models, or when no layer alone shows it."""
    if not isinstance(model, keras.Sequential) or len(x) < 2:
        return None
    batch, one = x, x[:1]
    for layer in model.layers:
        batch, one = layer(batch, training=False), layer(one, training=False)
        a = keras.ops.convert_to_numpy(batch)[:1]
        b = keras.ops.convert_to_numpy(one)
        if a.shape == b.shape and not np.allclose(a, b, rtol=1e-4, atol=1e-5):
            return layer.name
    return None


@register(FAMILY)
def batch_independence(model, train, *, examples: int = 4) -> CheckResult:
    """In inference mode, the gradient of a random projection of example i's output
    with respect to the whole input batch must be non-zero only at example i: nothing
    mixes examples. (A projection, not the sum: a softmax's outputs always sum to 1, so
    the sum's gradient is zero for every correct classifier.) An example whose output
    has no gradient at all (saturated units, an all-zero input to a ReLU net) cannot
    tell; if none can, the check warns instead of guessing. Integer inputs (token ids,
    which have no gradient) are checked by replacing the other examples instead: each
    example's output must not move."""
    x, _ = as_arrays(train, limit=examples)
    if x.dtype.kind in "iubOSU":  # ids, flags, text: no gradient to read
        moved = _replaced_others(model, x) if len(x) > 1 else [0.0]
        worst = float(max(moved))
        passed = worst <= 1e-4
        return CheckResult(
            "batch_independence",
            passed,
            worst,
            0.0,
            f"each example's output stays the same when the rest of the batch is replaced "
            f"({len(x)} examples of integer inputs checked)"
            if passed
            else f"an example's output changes by {worst:.1%} when the other examples of the "
            "batch are replaced: an operation mixes examples, e.g. a reshape or a reduction "
            "over axis 0 where a per-example op was meant",
            details={"moved": moved},
        )
    x = x.astype("float32")
    out_shape = tuple(keras.ops.shape(model(x[:1], training=False))[1:])
    rng = np.random.default_rng(0)
    leaks, silent = [], []
    for i in range(len(x)):
        projection = rng.normal(size=out_shape).astype("float32")
        grad = input_gradient(model, x, i, projection)
        if grad is None:
            return CheckResult(
                "batch_independence",
                False,
                None,
                0.0,
                "the output has no gradient with respect to the input: the input is not "
                "connected to the output (a stop_gradient, or the input is ignored)",
            )
        g = np.abs(grad).reshape(len(x), -1).sum(axis=1)
        own, others = float(g[i]), float(np.delete(g, i).sum())
        if own == 0 and others == 0:
            silent.append(i)
            continue
        leaks.append(others / (own + others))
    if not leaks:
        return CheckResult(
            "batch_independence",
            True,
            None,
            0.0,
            f"no output of the {len(x)} examples checked has a gradient with respect to the "
            "inputs (saturated units, or inputs that a ReLU net maps to zero), so mixing "
            "cannot be measured; scale the inputs, or look at the inputs for all zeros",
            status="warn",
        )
    worst = float(max(leaks))
    passed = worst <= 1e-6
    checked = len(leaks)
    where = None if passed else mixing_layer(model, x)
    return CheckResult(
        "batch_independence",
        passed,
        worst,
        0.0,
        f"each example's output depends on its own input only ({checked} examples checked"
        + (f"; {len(silent)} with no gradient at all skipped" if silent else "")
        + ")"
        if passed
        else f"an example's output depends on other examples in the batch ({worst:.1%} of "
        "its input gradient lies elsewhere): an operation mixes examples, e.g. a reshape or "
        "a reduction over axis 0 where a transpose or a per-example op was meant"
        + (f"; the first layer where it shows: {where}" if where else ""),
        details={"leak_fractions": leaks, "no_gradient": silent, "layer": where},
    )


