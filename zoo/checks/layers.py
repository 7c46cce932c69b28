"""Per-layer checks, at initialization and after a few steps of the program's own
optimizer: gradient health (``gradient_health``: vanishing, exploding, non-finite,
or no gradient at all) and units that no longer respond (``dead_units``: ReLU units
that never fire, sigmoid and tanh units stuck at their bounds). Their per-layer
figures are in each result's ``details`` for ``zoo.plots.layer_figures``."""

from __future__ import annotations

from collections.abc import Callable

import keras
import numpy as np

from zoo.checks.base import (
    CheckResult,
    arrays,
    fit_steps,
    frozen_note,
    gradients,
    rate_fix,
    register,
)
from zoo.models import leaf_layers

STEPS = 30  # optimizer steps before the second measurement



def _norm(arrays) -> float:
    return float(np.sqrt(sum(float(np.sum(np.square(a, dtype="float64"))) for a in arrays)))


def layer_gradients(model, x, y) -> list[tuple[str, float, float]]:
    """``(layer name, gradient norm, weight norm)`` for each layer with trainable
    weights, in the model's order (a layer that gets no gradient: norm 0)."""
    grads = dict(zip((id(w) for w in model.trainable_weights), gradients(model, x, y), strict=True))
    rows = []
    for layer in leaf_layers(model):
        own = layer.trainable_weights
        if not own:
            continue
        g = [grads.get(id(w)) for w in own]
        gnorm = _norm(v for v in g if v is not None)
        wnorm = _norm(keras.ops.convert_to_numpy(w) for w in own)
        rows.append((layer.name, gnorm, wnorm))
    return rows


def _verdict_gradients(rows, when: str, vanish: float, fail_vanish: float, explode: float):
    """``(status, message)`` for one measurement of ``layer_gradients``; the last
    verdict's layer and mechanical fix are left in ``_verdict_gradients.found``."""
    _verdict_gradients.found = {}
    bad = [name for name, g, _ in rows if not np.isfinite(g)]
    if bad:
        return "fail", (f"{when}, the gradient of layer {bad[0]!r} is NaN or infinite (and "
                        f"{len(bad) - 1} more layers'): the loss or an activation overflows; "
                        "scale the inputs, lower the learning rate, or clip gradients "
                        "(clipnorm=1.0)")  # fmt: skip
    zero = [name for name, g, _ in rows if g == 0.0]
    if zero:
        return "fail", (f"{when}, layer(s) {', '.join(map(repr, zero[:4]))} get exactly zero "
                        "gradient: they are not connected to the loss, or every unit before "
                        "them is dead (ReLUs that never fire), so they never learn")  # fmt: skip
    # the output layer is left out of the comparisons: a small-initialized output
    # layer (the recipe's advice) has a tiny weight norm, so a huge relative gradient
    rows = rows[:-1]
    if not rows:
        return "pass", ""
    ratio = [g / w if w > 0 else g for _, g, w in rows]
    if max(ratio) > explode:
        name = rows[int(np.argmax(ratio))][0]
        _verdict_gradients.found = {"layer": name, "fix": {"reinit": True}}
        return "fail", (f"{when}, layer {name!r} has a gradient {max(ratio):.3g} times its "
                        "weights' norm: exploding gradients; scale the inputs, lower the "
                        "learning rate, or clip gradients (clipnorm=1.0)")  # fmt: skip
    if len(rows) >= 2 and ratio[-1] > 0:
        spread = ratio[0] / ratio[-1]
        words = (f"{when}, the first layer {rows[0][0]!r} gets a relative gradient "
                 f"{spread:.2g} times the last hidden layer's ({rows[-1][0]!r})")
        if spread < vanish:
            _verdict_gradients.found = {"layer": rows[0][0], "fix": {"hidden_activation": "relu"}}
        if spread < fail_vanish:
            return "fail", (words + ": vanishing gradients, the early layers barely learn "
                            "(stacked sigmoid/tanh layers, or a deep net without normalization). "
                            "Use ReLU activations with He initialization, BatchNormalization, or "
                            "residual connections")  # fmt: skip
        if spread < vanish:
            return "warn", words + ": the early layers learn much more slowly than the last"
    return "pass", ""


def measure(build: Callable, train, *, batch_size: int = 32, steps: int = STEPS) -> dict:
    """One fresh model measured at initialization and after ``steps`` steps of the
    program's optimizer on real mini-batches: per-layer gradients on one batch
    (``layer_gradients``) and unit states on 256 examples (``unit_states``), under
    ``"gradients"`` and ``"units"``, each ``{"init": ..., "after": ...}``. Both
    ``gradient_health`` and ``dead_units`` read it, so the runner measures once."""
    x, y, w = arrays(train, limit=4096)
    model = build()
    probe = slice(0, max(32, min(batch_size, 256)))
    found = {"steps": steps, "examples": min(len(x), 256), "frozen": frozen_note(model),
             "rate_fix": rate_fix(model.optimizer, lower=True)}  # fmt: skip
    if not model.trainable_weights:
        return found
    found["gradients"] = {"init": layer_gradients(model, x[probe], y[probe])}
    found["units"] = {"init": unit_states(model, x[:256])}
    fit_steps(model, x, y, steps, batch_size, sample_weight=w)
    found["gradients"]["after"] = layer_gradients(model, x[probe], y[probe])
    found["units"]["after"] = unit_states(model, x[:256])
    return found


@register("layers")
def gradient_health(
    build: Callable,
    train,
    *,
    batch_size: int = 32,
    steps: int = STEPS,
    vanish: float = 1e-2,
    fail_vanish: float = 1e-4,
    explode: float = 1e3,
    measured: dict | None = None,
) -> CheckResult:
    """Per-layer gradient norms on one batch, at initialization and after ``steps``
    steps of the program's optimizer: none NaN or infinite, none exactly zero, no
    hidden layer's above ``explode`` times its weight norm, and the first layer's
    relative gradient not below ``fail_vanish`` (fail) or ``vanish`` (warn) times the
    last hidden layer's. ``measured``: ``measure``'s result, if already taken."""
    measured = measured or measure(build, train, batch_size=batch_size, steps=steps)
    if "gradients" not in measured:
        return CheckResult("gradient_health", False, None, None, "no layer has trainable "
                           "weights, so no gradient reaches any" + measured["frozen"])  # fmt: skip
    grads, steps = measured["gradients"], measured["steps"]
    details = {
        "layers": [r[0] for r in grads["init"]],
        **{k: [g / w if w > 0 else g for _, g, w in rows] for k, rows in grads.items()},
    }
    worst = "pass", ""
    for key, when in (("init", "at initialization"), ("after", f"after {steps} steps")):
        status, message = _verdict_gradients(grads[key], when, vanish, fail_vanish, explode)
        if ["pass", "warn", "fail"].index(status) > ["pass", "warn", "fail"].index(worst[0]):
            worst = status, message
            details.update(_verdict_gradients.found)
            grown = key == "after" and (details.get("fix", {}).get("reinit") or "NaN" in message)
            if grown:  # fine at initialization, broken by the steps: the step size
                details["fix"] = measured.get("rate_fix") or {}
    hidden = [r for r in details["init"][:-1] if np.isfinite(r)]
    spread = hidden[0] / hidden[-1] if len(hidden) >= 2 and hidden[-1] > 0 else None
    if worst[0] == "pass":
        worst = "pass", (f"gradients reach all {len(details['layers'])} layers at initialization "
                         f"and after {steps} steps" + (
                             f" (the first layer's relative gradient {spread:.2g} times the "
                             "last hidden layer's)" if spread is not None else ""))  # fmt: skip
    return CheckResult("gradient_health", worst[0] != "fail", spread, f">= {vanish:g}", worst[1],
                       details=details, status=worst[0])  # fmt: skip


def _activation_name(layer) -> str:
    if isinstance(layer, keras.layers.ReLU):
        return "relu"
    activation = getattr(layer, "activation", None)
    return getattr(activation, "__name__", "") if activation is not None else ""


def layer_outputs(model, x, layers) -> dict[str, np.ndarray]:
    """The outputs of ``layers`` (leaf layers of ``model``) on ``x`` in inference mode,
    read by wrapping their ``call`` for one forward pass (works inside nested and
    subclassed models alike)."""
    seen: dict[str, np.ndarray] = {}
    own = {id(layer): layer.__dict__.get("call") for layer in layers}  # a fused BN's
    for layer in layers:
        original = layer.call

        def call(*args, _layer=layer, _original=original, **kwargs):
            out = _original(*args, **kwargs)
            seen[_layer.name] = keras.ops.convert_to_numpy(out)
            return out

        object.__setattr__(layer, "call", call)
    try:
        model(x, training=False)
    finally:
        for layer in layers:
            if own[id(layer)] is None:
                object.__delattr__(layer, "call")
            else:
                object.__setattr__(layer, "call", own[id(layer)])
    return seen


def unit_states(model, x) -> dict[str, tuple[str, float, tuple]]:
    """Per hidden layer ending in ReLU, sigmoid or tanh: ``(kind, fraction,
    histogram)``, the
    fraction of its units (channels) that are dead (a ReLU output zero for every
    example of ``x``), or of its outputs that are saturated (a sigmoid or tanh within 1%
    of its bounds, where its gradient is near zero), and the histogram of its outputs
    (``(counts, edges)``, 40 bins). The output layer is not counted."""
    chosen = [layer for layer in leaf_layers(model)
              if _activation_name(layer) in ("relu", "sigmoid", "tanh")]  # fmt: skip
    last = [layer for layer in leaf_layers(model) if layer.weights]
    if chosen and last and chosen[-1] is last[-1]:
        chosen = chosen[:-1]
    outs = layer_outputs(model, x, chosen)
    states = {}
    for layer in chosen:
        if layer.name not in outs:
            continue
        out = outs[layer.name].reshape(-1, outs[layer.name].shape[-1])
        kind = _activation_name(layer)
        counts, edges = _histogram(out[np.isfinite(out)])
        histogram = (counts.tolist(), edges.tolist())
        if kind == "relu":
            states[layer.name] = ("dead", float(1.0 - (out > 0).any(axis=0).mean()), histogram)
        else:
            low, high = (0.0, 1.0) if kind == "sigmoid" else (-1.0, 1.0)
            near = (out < low + 0.01 * (high - low)) | (out > high - 0.01 * (high - low))
            states[layer.name] = ("saturated", float(near.mean()), histogram)
    return states


def _histogram(values: np.ndarray, bins: int = 40):
    """NumPy's histogram, also of values that all but agree (saturated units: 0.5 to
    within 1e-9), where NumPy cannot make ``bins`` finite-sized bins and raises."""
    lo, hi = (float(values.min()), float(values.max())) if values.size else (0.0, 1.0)
    if not hi - lo > 1e-6 * max(1.0, abs(lo), abs(hi)):
        lo, hi = lo - 0.5, hi + 0.5
    return np.histogram(values, bins=bins, range=(lo, hi))


@register("layers")
def dead_units(
    build: Callable,
    train,
    *,
    batch_size: int = 32,
    steps: int = STEPS,
    warn_at: float = 0.25,
    fail_at: float = 1.0,
    measured: dict | None = None,
) -> CheckResult:
    """On a fixed batch, at initialization and after ``steps`` steps of the program's
    optimizer: the fraction of each hidden layer's units that are dead (ReLU) or
    saturated (sigmoid, tanh). A layer at ``warn_at`` or more warns: many dead ReLUs
    are common in nets that train well, so a fraction alone is no evidence of harm.
    It fails only where the harm is measured: every unit of a ReLU layer dead (at
    ``fail_at``, 1.0 by default), so the layer's output is the same for every example
    and nothing before it gets a gradient. ``measured``: ``measure``'s result, if
    already taken."""
    found = measured or measure(build, train, batch_size=batch_size, steps=steps)
    measured, steps = found.get("units", {"init": {}, "after": {}}), found["steps"]
    names = list(measured["init"])
    details = {"layers": names, **{k: [v[n][1] for n in names] for k, v in measured.items()},
               "histograms": {k: {n: v[n][2] for n in names} for k, v in measured.items()}}

    def result(status, worst, message):
        return CheckResult("dead_units", status != "fail", worst, f"< {warn_at:.0%}", message,
                           details=details, status=status)  # fmt: skip

    if not names:
        return result("pass", None, "no hidden ReLU, sigmoid or tanh layer to measure")
    worst, where = 0.0, ("", "", "")
    for key, when in (("init", "at initialization"), ("after", f"after {steps} steps")):
        for name, (kind, frac, _) in measured[key].items():
            if frac > worst:
                worst, where = frac, (name, kind, when)
    name, kind, when = where
    if worst >= warn_at:
        cause = (
            "ReLUs die from a learning rate too large, a large negative bias, or unscaled "
            "inputs; lower the learning rate, scale the inputs, or use LeakyReLU/He init"
            if kind == "dead"
            else "sigmoid/tanh units saturate on unscaled inputs or large initial weights, "
            "and their gradient is then near zero; scale the inputs, use Glorot init, or "
            "ReLU activations"
        )
        harm = kind == "dead" and worst >= fail_at and found["examples"] > 1
        details["layer"] = name
        born = measured["init"].get(name, ("", 0.0))[1]
        if born >= max(warn_at / 2, worst - 0.2):  # the init made them so: afresh
            details["fix"] = {"reinit": True}
        elif kind == "dead":  # they died in training: a step too large
            details["fix"] = found.get("rate_fix") or {}
        if harm:
            cause += (". With every unit dead the layer outputs the same for every example: "
                      "the model cannot learn from its input")  # fmt: skip
        return result("fail" if harm else "warn", worst,
                      f"{when}, {worst:.0%} of the "
                      f"{'units' if kind == 'dead' else 'outputs'} of layer {name!r} are {kind} "
                      f"on {found['examples']} examples: {cause}")  # fmt: skip
    return result("pass", worst, f"at most {worst:.0%} of any hidden layer's units are dead or "
                  f"saturated, at initialization and after {steps} steps ({len(names)} layers)")
