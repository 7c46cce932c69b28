"""Fix trials: a root cause's mechanical fix (``CheckResult.fix``) applied to a copy of
the model or to the data, and the failing checks run again with the same plan, before
and after (``try_fixes``). A fix that cannot be applied here says why in the trial."""

from __future__ import annotations

import time
from collections.abc import Callable

import keras
import numpy as np

from zoo.checks.base import CheckResult, arrays, feature_axes, standardized
from zoo.models import leaf_layers
from zoo.outputs import activation_layer, resolve_loss

_LOSS_CLASSES = {
    "sparse_categorical_crossentropy": keras.losses.SparseCategoricalCrossentropy,
    "categorical_crossentropy": keras.losses.CategoricalCrossentropy,
    "binary_crossentropy": keras.losses.BinaryCrossentropy,
}


def change_words(fix: dict, model=None) -> str:
    """A fix in a person's words: ``"the output activation sigmoid, loss
    binary_crossentropy"``."""
    words = []
    if "activation" in fix:
        words.append(f"a {fix['activation']} output activation")
    if "loss" in fix:
        words.append(f"loss {fix['loss']}")
    if "from_logits" in fix:
        words.append(f"from_logits={fix['from_logits']}")
    if "learning_rate" in fix:
        words.append(f"learning rate {fix['learning_rate']:g}")
    if "learning_rate_times" in fix:
        words.append(f"the learning rate(s) times {fix['learning_rate_times']:g}")
    if fix.get("inputs") == "standardize":
        words.append("the inputs standardized (each feature's training mean and spread)")
    if fix.get("targets") == "standardize":
        words.append("the targets standardized (training mean and spread)")
    if fix.get("labels") == "minus_one":
        words.append("the labels minus 1")
    if fix.get("labels") == "zero_one":
        words.append("the labels mapped to 0/1")
    if fix.get("labels_times"):
        words.append(f"the labels times {fix['labels_times']:g}")
    if fix.get("split") == "shuffle":
        words.append("the rows shuffled before the validation split")
    if "dropout" in fix:
        words.append(", ".join(f"{name} rate {rate:g}" for name, rate in fix["dropout"].items()))
    if "penalty" in fix:
        words.append(f"the weight penalties times {fix['penalty']:g}")
    if "bn_momentum" in fix:
        words.append(f"BatchNormalization momentum {fix['bn_momentum']:g}")
    if fix.get("hidden_activation"):
        words.append(f"{fix['hidden_activation']} in the hidden layers"
                     + (" (He-initialized)" if fix.get("he_init") else ""))
    if fix.get("reinit"):
        words.append("the layers initialized afresh (Glorot kernels, zero biases)")
    if fix.get("unfreeze"):
        words.append("every layer trainable")
    if fix.get("validation") == "rescale":
        words.append("the validation inputs on the training inputs' scale")
    if "inputs_affine" in fix:
        scale, shift = fix["inputs_affine"]
        words.append(f"the inputs times {scale:g} plus {shift:g}")
    return ", ".join(words)


def _recompile(model, fix: dict) -> None:
    loss = model.loss
    if "loss" in fix:
        loss = fix["loss"]
    if "from_logits" in fix:
        name = resolve_loss(model).name
        if name not in _LOSS_CLASSES:
            raise ValueError(f"cannot set from_logits on the loss {name}")
        loss = _LOSS_CLASSES[name](from_logits=fix["from_logits"])
    config = model.optimizer.get_config()
    if "learning_rate" in fix:
        config["learning_rate"] = fix["learning_rate"]
    if "learning_rate_times" in fix:
        config["learning_rate"] = _scaled_rate(config["learning_rate"], fix["learning_rate_times"])
    model.compile(optimizer=model.optimizer.__class__.from_config(config), loss=loss)


# the rates a serialized schedule holds (ExponentialDecay, InverseTimeDecay, Polynomial-,
# Cosine- and PiecewiseConstantDecay)
_SCHEDULE_RATES = ("initial_learning_rate", "end_learning_rate", "warmup_target", "values")


def _scaled_rate(rate, times: float):
    """An optimizer config's ``learning_rate`` (a number, or a serialized schedule) with
    every rate ``times`` as large."""
    if isinstance(rate, int | float):
        return rate * times
    config = dict(rate.get("config", {})) if isinstance(rate, dict) else {}
    found = [k for k in _SCHEDULE_RATES if config.get(k) is not None]
    if not found:
        name = rate.get("class_name") if isinstance(rate, dict) else type(rate).__name__
        raise ValueError(f"cannot scale the rates of the learning-rate schedule {name}")
    for key in found:
        value = config[key]
        config[key] = [v * times for v in value] if isinstance(value, list) else value * times
    return {**rate, "config": config}


def _set(layer, attr: str, value, undo: list) -> None:
    undo.append((layer, attr, getattr(layer, attr)))
    setattr(layer, attr, value)


def apply_to_model(model, fix: dict, undo: list) -> None:
    """Apply the model part of ``fix`` to ``model`` (a fresh copy, or a subclassed model
    itself: ``undo`` collects what to set back)."""
    layers = {la.name: la for la in leaf_layers(model)}
    if "activation" in fix:
        layer = activation_layer(model)
        if layer is None or not hasattr(layer, "activation"):
            raise ValueError("the output layer has no activation to change")
        _set(layer, "activation", keras.activations.get(fix["activation"]), undo)
    for name, rate in fix.get("dropout", {}).items():
        _set(layers[name], "rate", rate, undo)
    out = activation_layer(model)
    if fix.get("unfreeze"):  # every layer, and the models holding them
        for layer in [*layers.values(), model]:
            _set(layer, "trainable", True, undo)
    for layer in layers.values():
        name = getattr(getattr(layer, "activation", None), "__name__", "")
        if fix.get("hidden_activation") and layer is not out and name in ("sigmoid", "tanh"):
            _set(layer, "activation", keras.activations.get(fix["hidden_activation"]), undo)
            if fix.get("he_init") and getattr(layer, "kernel", None) is not None:
                layer.kernel.assign(keras.initializers.HeNormal(seed=7)(layer.kernel.shape))
        if fix.get("reinit") and getattr(layer, "kernel", None) is not None:
            layer.kernel.assign(keras.initializers.GlorotUniform(seed=7)(layer.kernel.shape))
            if getattr(layer, "bias", None) is not None:
                layer.bias.assign(keras.ops.zeros(layer.bias.shape))
    for layer in layers.values():
        if "bn_momentum" in fix and isinstance(layer, keras.layers.BatchNormalization):
            _set(layer, "momentum", fix["bn_momentum"], undo)
        if "penalty" in fix:
            for attr in ("kernel_regularizer", "bias_regularizer"):
                reg = getattr(layer, attr, None)
                for coef in ("l1", "l2"):
                    if reg is not None and getattr(reg, coef, 0):
                        _set(reg, coef, getattr(reg, coef) * fix["penalty"], undo)
    if {"loss", "from_logits", "learning_rate", "learning_rate_times"} & set(fix):
        _recompile(model, fix)


def apply_to_data(train: tuple, val: tuple, fix: dict) -> tuple[tuple, tuple]:
    """The data part of ``fix`` applied to ``train`` and ``val`` (``(x, y[, w])``)."""
    x, y, w = arrays(train)
    xv, yv, wv = arrays(val)
    if fix.get("inputs") == "standardize" and x.dtype.kind in "fiu":
        x, xv = standardized(x, xv)
    if "inputs_affine" in fix:
        scale, shift = fix["inputs_affine"]
        x, xv = (x * scale + shift).astype("float32"), (xv * scale + shift).astype("float32")
    if fix.get("validation") == "rescale":
        axes = feature_axes(x)
        mt, st = x.mean(axis=axes, keepdims=True), x.std(axis=axes, keepdims=True)
        mv, sv = xv.mean(axis=axes, keepdims=True), xv.std(axis=axes, keepdims=True)
        xv = ((xv - mv) / np.where(sv > 0, sv, 1.0) * st + mt).astype("float32")
    if fix.get("targets") == "standardize":
        y, yv = standardized(np.asarray(y, "float64"), np.asarray(yv, "float64"))
    if fix.get("labels") == "minus_one":
        y, yv = y - 1, yv - 1
    if fix.get("labels_times"):
        y, yv = np.round(y * fix["labels_times"]), np.round(yv * fix["labels_times"])
    if fix.get("labels") == "zero_one":
        low, high = float(min(y.min(), yv.min())), float(max(y.max(), yv.max()))
        y, yv = (y - low) / (high - low), (yv - low) / (high - low)
    if fix.get("split") == "shuffle":
        allx, ally = np.concatenate([x, xv]), np.concatenate([y, yv])
        order = np.random.default_rng(0).permutation(len(allx))
        allx, ally = allx[order], ally[order]
        x, y, xv, yv = allx[: len(x)], ally[: len(x)], allx[len(x):], ally[len(x):]
        w = wv = None

    def pack(a, b, c):
        return (a, b) if c is None else (a, b, c)

    return pack(x, y, w), pack(xv, yv, wv)


def run_trial(fix: dict, names: list[str], results: list[CheckResult], build: Callable,
               train: tuple, val: tuple, rerun: Callable) -> dict:
    """The checks ``names`` run again (``rerun``, the runner with the same plan) on a
    copy with ``fix`` applied: the before/after of each, what it cleared, what it left
    failing; ``{"change", "error"}`` where the fix cannot be applied here."""
    change = change_words(fix)
    undo: list = []

    def fixed_build():
        model = build()
        apply_to_model(model, fix, undo)
        return model

    start = time.perf_counter()
    try:
        fixed_train, fixed_val = apply_to_data(train, val, fix)
        again = rerun(fixed_build, fixed_train, fixed_val, tuple(names))
    except Exception as err:  # noqa: BLE001 - a fix that cannot be applied here
        return {"change": change, "error": f"{type(err).__name__}: {err}"}
    finally:
        for obj, attr, value in reversed(undo):
            setattr(obj, attr, value)
    before = {r.name: r for r in results}
    checks = {}
    for r in again.results:
        old = before.get(r.name)
        checks[r.name] = {
            "before": old.status if old else None,
            "after": r.status,
            "measured_before": _plain(old.measured) if old else None,
            "measured_after": _plain(r.measured),
            "expected_after": _plain(r.expected),
            "message_after": r.message,
        }
    failing = [n for n, c in checks.items() if c["before"] == "fail"]
    cleared = [n for n in failing if checks[n]["after"] in ("pass", "warn")]
    warned = [n for n, c in checks.items() if c["before"] == "warn"]
    return {
        "change": change,
        "fix": fix,
        "checks": checks,
        "cleared": cleared,
        "still_failing": [n for n in failing if n not in cleared],
        # None: nothing was failing (then "improved": every warning passes)
        "fixed": len(cleared) == len(failing) if failing else None,
        "improved": bool(warned) and all(checks[n]["after"] == "pass" for n in warned),
        "seconds": round(time.perf_counter() - start, 1),
        "curves": {r.name: [float(v) for v in r.details["losses"]] for r in again.results
                   if r.details.get("losses") is not None},
        "baseline": _baseline_figures(before.get("input_independent_baseline"),
                                      again.results),
    }  # fmt: skip


def trial_names(root: CheckResult, results: list[CheckResult], order: tuple[str, ...]) -> list[str]:
    """The checks a root's trial runs again: the root and what it explains, in the
    runner's ``order`` (``inference_mode`` reads ``loss_decreasing``'s training)."""
    names = [root.name, *(r.name for r in results if r.caused_by == root.name)]
    if root.name == "input_scale" and root.status == "fail" and "standardized" in root.details:
        names.append("input_independent_baseline")  # its harm was measured there
    if "inference_mode" in names:
        names = ["loss_decreasing", *names]
    return [n for n in order if n in names]


def try_fixes(
    roots: list[CheckResult],
    results: list[CheckResult],
    build: Callable,
    train: tuple,
    val: tuple,
    rerun: Callable,
    *,
    model=None,
    allowed: Callable[[float], bool] = lambda seconds: True,
    order: tuple[str, ...] = (),
) -> list[dict]:
    """For each root cause with a mechanical fix, the trial: ``rerun(build, train, val,
    checks)`` (the runner, same plan) on a copy with the fix applied; the before/after
    of every check run again goes into ``root.details["trial"]``. A learning rate that
    moved the right way but not far enough is tried ten times further (``model``: the
    program's, for its rate). A warning whose fix clears a failing consequence becomes
    a FAIL (the harm is measured); a consequence the fix leaves failing is no longer
    marked as caused by it. ``allowed(seconds)`` says whether a trial estimated at
    ``seconds`` still fits the time budget; ``order``: the runner's order of the checks,
    which a trial keeps."""
    trials = []
    for root in roots:
        fix = root.fix
        names = trial_names(root, results, order) if fix and "trial" not in root.details else []
        if not names:
            continue
        if not allowed(sum(r.seconds for r in results if r.name in names)):
            root.details["trial"] = {"change": change_words(fix),
                                     "skipped": "over the time budget"}  # fmt: skip
            continue
        trial = run_trial(fix, names, results, build, train, val, rerun)
        further = _further(fix, model) if trial.get("fixed") is False else {}
        if further and allowed(sum(r.seconds for r in results if r.name in names)):
            second = run_trial({**fix, **further}, names, results, build, train, val, rerun)
            if second.get("fixed"):  # the further fix was needed: that is the fix
                trial, fix = second, root.details.setdefault("fix", {})
                fix.update(further)
        root.details["trial"] = trial
        if "error" in trial:
            continue
        trials.append(trial)
        for r in results:
            after = trial["checks"].get(r.name, {}).get("after")
            if r.caused_by == root.name and after == r.status == "fail":
                r.caused_by = None  # the fix leaves it failing: a finding of its own
        measured_harm(root, trial, change_words(fix))
    return trials


def measured_harm(root: CheckResult, trial: dict, change: str) -> None:
    """A warning whose fix clears a failing check besides itself becomes a FAIL."""
    cleared = [n for n in trial["cleared"] if n != root.name]
    if root.status == "warn" and cleared:
        root.status, root.passed = "fail", False
        root.message += (f". Measured: with {change}, {', '.join(cleared)} "
                         f"{'passes' if len(cleared) == 1 else 'pass'}")  # fmt: skip


def _further(fix: dict, model) -> dict:
    """The fix taken further where its trial left checks failing: a learning rate ten
    times further in the direction it moved the program's rate; ReLUs with the He
    initialization made for them; ``{}`` for any other fix."""
    if fix.get("hidden_activation") == "relu" and not fix.get("he_init"):
        return {"he_init": True}
    if set(fix) != {"learning_rate"} or model is None or model.optimizer is None:
        return {}
    try:
        rate = float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))
    except (TypeError, ValueError):
        return {}
    new = fix["learning_rate"]
    return {"learning_rate": new / 10 if new < rate else new * 10} if new != rate else {}


def _baseline_figures(old: CheckResult | None, again: list[CheckResult]) -> dict:
    """The baseline's validation loss before and after the fix (and with the inputs
    zeroed), in the mode it was read, when the trial ran it again."""
    new = next((r for r in again if r.name == "input_independent_baseline"), None)
    if old is None or new is None or "real" not in old.details or "real" not in new.details:
        return {}
    mode = old.details.get("mode", "inference")
    return {"input_independent_baseline": {
        "before": float(old.details["real"][mode]), "after": float(new.details["real"][mode]),
        "zeros": float(old.details["zeros"][mode]), "mode": mode}}


def _plain(v):
    if isinstance(v, float | int | str | bool) or v is None:
        return v
    if isinstance(v, np.floating | np.integer):
        return v.item()
    return str(v)


