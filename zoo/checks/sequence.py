"""Leaks of the future in sequence models: the recipe's "the autoregressive model takes
the thing it predicts as an input through an off-by-one bug". For a model whose output
has a step per input step, each input step is changed in turn and the outputs that
move are charted (output step x input step); an output that moves with a later input
reads the future. That is a bug when the targets are the inputs shifted by one (next
element prediction): the model reads its own target."""

from __future__ import annotations

import keras
import numpy as np

from zoo.checks.base import CheckResult, arrays, register
from zoo.models import leaf_layers

FAMILY = "sequence"


def _changed(x: np.ndarray, step: int) -> np.ndarray:
    """``x`` with input step ``step`` replaced: another token id, or a value moved by a
    spread."""
    out = x.copy()
    if x.dtype.kind in "iu":
        top = int(x.max()) + 1
        out[:, step] = (x[:, step] + 1) % max(top, 2)
        out[:, step] = np.where(out[:, step] == 0, 1 % max(top, 2), out[:, step])
    else:
        spread = float(np.std(x)) or 1.0
        out[:, step] = x[:, step] + spread
    return out


def dependence(model, x: np.ndarray) -> np.ndarray:
    """``D[t, s]``: how much output step ``t`` moves when input step ``s`` changes (mean
    absolute change, over rows and output units), in inference mode."""
    steps = x.shape[1]
    base = keras.ops.convert_to_numpy(model(x, training=False))
    batch = np.concatenate([_changed(x, s) for s in range(steps)])
    moved = np.concatenate([
        keras.ops.convert_to_numpy(model(batch[i:i + 256], training=False))
        for i in range(0, len(batch), 256)
    ])  # fmt: skip
    moved = moved.reshape(steps, len(x), *base.shape[1:])
    diff = np.abs(moved - base[None]).reshape(steps, len(x), base.shape[1], -1)
    return diff.mean(axis=(1, 3)).T  # (output step, input step)


def _mixing_layer(model) -> str:
    """Words naming the layer that lets a step read later steps."""
    for layer in leaf_layers(model):
        name = type(layer).__name__
        if isinstance(layer, keras.layers.Bidirectional):
            return f"{layer.name} (Bidirectional: its backward half reads the later steps)"
        if getattr(layer, "go_backwards", False):
            return f"{layer.name} ({name} with go_backwards=True)"
        if isinstance(layer, keras.layers.Conv1D) and layer.padding != "causal" and max(
            layer.kernel_size
        ) > 1:
            return f"{layer.name} (Conv1D with padding={layer.padding!r}: use padding='causal')"
        if isinstance(layer, keras.layers.MultiHeadAttention | keras.layers.Attention):
            return f"{layer.name} ({name}: call it with use_causal_mask=True)"
    return "a layer that mixes the time steps"


def _shifted(x: np.ndarray, y: np.ndarray, by: int) -> float:
    """The fraction of target steps equal to the input ``by`` steps later."""
    steps = x.shape[1]
    y = y.reshape(*y.shape[:2], -1) if y.ndim > 2 else y[..., None]
    xs = x.reshape(*x.shape[:2], -1) if x.ndim > 2 else x[..., None]
    if y.shape[:2] != xs.shape[:2] or y.shape[-1] != xs.shape[-1] or steps <= by:
        return 0.0
    a, b = y[:, : steps - by], xs[:, by:]
    return float(np.mean(np.isclose(a.astype("float64"), b.astype("float64"))))


@register(FAMILY)
def sequence_leak(model, train, *, rows: int = 8, tolerance: float = 0.01) -> CheckResult:
    """For a model with an output per input step: which input steps each output step
    depends on (``dependence``). It fails when the targets are the inputs shifted by
    one (next-element prediction) and an output step depends on a later input, above
    ``tolerance`` of the strongest dependence: the model reads the element it is asked
    to predict. It warns when the targets equal the inputs at the same step (an
    off-by-one: nothing to learn but a copy). A per-step model that reads both
    directions with other targets (a tagger) passes."""
    x, y, _ = arrays(train, limit=rows)
    if x.ndim < 2 or x.shape[1] < 3 or x.dtype.kind not in "fiu":
        return CheckResult("sequence_leak", True, None, None, "not a sequence of steps")
    probe = keras.ops.convert_to_numpy(model(x[:2], training=False))
    if probe.ndim != 3 or probe.shape[1] != x.shape[1]:
        return CheckResult("sequence_leak", True, None, None,
                           "the output has no step per input step: nothing to chart")  # fmt: skip
    chart = dependence(model, x)
    rel = chart / max(float(chart.max()), 1e-12)
    future = np.triu(rel, k=1)  # output step t, input step s > t
    reads = float(future.max())
    t, s = np.unravel_index(int(np.argmax(future)), future.shape)
    nxt, same = _shifted(x, y, 1), _shifted(x, y, 0)
    details = {"dependence": chart.tolist(), "next_step_targets": nxt, "same_step_targets": same}
    if nxt >= 0.9 and reads > tolerance:
        layer = _mixing_layer(model)
        details["layer"] = layer.split(" ", 1)[0]
        return CheckResult(
            "sequence_leak", False, reads, f"<= {tolerance:g}",
            f"{nxt:.0%} of the targets are the next input step (next-element prediction), "
            f"but output step {t} moves with input step {s} (at {reads:.0%} of the strongest "
            f"dependence): the model reads the element it must predict, learns to copy it, and "
            f"cannot generate. Cause: {layer}", details=details,
        )  # fmt: skip
    if same >= 0.9:
        return CheckResult(
            "sequence_leak", True, same, "targets shifted by one",
            f"{same:.0%} of the targets equal the input at the same step: the model is asked "
            "to copy its input. For next-element prediction shift them by one (x = seq[:, :-1], "
            "y = seq[:, 1:])", status="warn", details=details,
        )  # fmt: skip
    where = ("every output step reads the whole sequence (both directions)" if reads > tolerance
             else "each output step reads only its own and earlier input steps")  # fmt: skip
    return CheckResult("sequence_leak", True, reads, f"<= {tolerance:g}", where, details=details)
