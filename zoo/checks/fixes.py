"""Fix trials: a root cause's mechanical fix (``CheckResult.fix``) applied to a copy of
the model or to the data, and the failing checks run again with the same plan, before
and after (``try_fixes``). A fix that cannot be applied here says why in the trial."""

from __future__ import annotations

import time
from collections.abc import Callable

import keras
import numpy as np

from zoo.checks.base import CheckResult, arrays
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
    if fix.get("inputs") == "standardize":
        words.append("the inputs standardized (each feature's training mean and spread)")
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
        words.append(f"{fix['hidden_activation']} in the hidden layers")
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
    model.compile(optimizer=model.optimizer.__class__.from_config(config), loss=loss)


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
    if {"loss", "from_logits", "learning_rate"} & set(fix):
        _recompile(model, fix)


def apply_to_data(train: tuple, val: tuple, fix: dict) -> tuple[tuple, tuple]:
    """The data part of ``fix`` applied to ``train`` and ``val`` (``(x, y[, w])``)."""
    x, y, w = arrays(train)
    xv, yv, wv = arrays(val)
    if fix.get("inputs") == "standardize" and x.dtype.kind in "fiu":
        axes = tuple(range(x.ndim - 1))
        mean, std = x.mean(axis=axes, keepdims=True), x.std(axis=axes, keepdims=True)
        std = np.where(std > 0, std, 1.0)
        x, xv = ((x - mean) / std).astype("float32"), ((xv - mean) / std).astype("float32")
    if "inputs_affine" in fix:
        scale, shift = fix["inputs_affine"]
        x, xv = (x * scale + shift).astype("float32"), (xv * scale + shift).astype("float32")
    if fix.get("validation") == "rescale":
        axes = tuple(range(x.ndim - 1))
        mt, st = x.mean(axis=axes, keepdims=True), x.std(axis=axes, keepdims=True)
        mv, sv = xv.mean(axis=axes, keepdims=True), xv.std(axis=axes, keepdims=True)
        xv = ((xv - mv) / np.where(sv > 0, sv, 1.0) * st + mt).astype("float32")
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


def try_fixes(
    roots: list[CheckResult],
    results: list[CheckResult],
    build: Callable,
    train: tuple,
    val: tuple,
    rerun: Callable,
    *,
    allowed: Callable[[float], bool] = lambda seconds: True,
    order: tuple[str, ...] = (),
) -> list[dict]:
    """For each root cause with a mechanical fix, the trial: ``rerun(build, train, val,
    checks)`` (the runner, same plan) on a copy with the fix applied; the before/after
    of every check run again goes into ``root.details["trial"]``. A warning whose fix
    clears a failing consequence becomes a FAIL (the harm is measured); a consequence the
    fix leaves failing is no longer marked as caused by it. ``allowed(seconds)`` says
    whether a trial estimated at ``seconds`` still fits the time budget; ``order``: the
    runner's order of the checks, which a trial keeps."""
    trials = []
    for root in roots:
        fix = root.fix
        if not fix:
            continue
        names = [root.name, *(r.name for r in results if r.caused_by == root.name)]
        if "inference_mode" in names:  # it reads loss_decreasing's training
            names = ["loss_decreasing", *names]
        names = [n for n in order if n in names]  # the runner's checks (not first_step)
        if not names:
            continue
        estimate = sum(r.seconds for r in results if r.name in names)
        change = change_words(fix)
        if not allowed(estimate):
            root.details["trial"] = {"change": change, "skipped": "over the time budget"}
            continue
        undo: list = []

        def fixed_build(fix=fix, undo=undo):
            model = build()
            apply_to_model(model, fix, undo)
            return model

        start = time.perf_counter()
        try:
            fixed_train, fixed_val = apply_to_data(train, val, fix)
            again = rerun(fixed_build, fixed_train, fixed_val, tuple(names))
        except Exception as err:  # noqa: BLE001 - a fix that cannot be applied here
            root.details["trial"] = {"change": change, "error": f"{type(err).__name__}: {err}"}
            continue
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
                "message_after": r.message,
            }
        failing = [n for n, c in checks.items() if c["before"] == "fail"]
        cleared = [n for n in failing if checks[n]["after"] in ("pass", "warn")]
        warned = [n for n, c in checks.items() if c["before"] == "warn"]
        trial = {
            "change": change,
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
        root.details["trial"] = trial
        trials.append(trial)
        for r in results:
            after = checks.get(r.name, {}).get("after")
            if r.caused_by == root.name and after == r.status == "fail":
                r.caused_by = None  # the fix leaves it failing: a finding of its own
        if root.status == "warn" and any(n != root.name for n in cleared):
            root.status, root.passed = "fail", False
            root.message += (f". Measured: with {change}, {', '.join(cleared)} "
                             f"{'passes' if len(cleared) == 1 else 'pass'}")  # fmt: skip
    return trials


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


