"""The diagnosis over the checks' results: root causes first, their consequences shown
under them without advice of their own, each finding placed on the line of the user's
code that made its cause, and for each root cause with a mechanical fix a *fix trial*:
the fix applied to a copy and the failing checks run again, before and after.

``diagnose(report)`` orders the findings and marks ``caused_by``; ``try_fixes`` runs the
trials (a trial that does not clear a consequence takes the mark back: the finding is
then a cause of its own); ``locate(report, sites, model)`` adds ``location``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np

from zoo.checks.base import CheckResult, arrays
from zoo.checks.locate import Sites
from zoo.models import leaf_layers
from zoo.outputs import activation_layer, resolve_loss

TRAINING = ("loss_at_init", "overfit_one_batch", "loss_decreasing", "input_independent_baseline",
            "inference_mode", "gradient_health", "dead_units", "first_step")  # fmt: skip
# what each kind of root cause explains when it is found beside these findings
EXPLAINS: dict[str, tuple[str, ...]] = {
    "labels": TRAINING,
    "output_and_loss": TRAINING,
    "loss_at_init": tuple(n for n in TRAINING if n != "loss_at_init"),
    "input_scale": ("loss_at_init", "overfit_one_batch", "loss_decreasing",
                    "input_independent_baseline", "gradient_health", "dead_units", "first_step"),
    "validation_data": ("input_independent_baseline",),
    "frozen_inputs": ("overfit_one_batch", "loss_decreasing", "input_independent_baseline"),
    "regularization": ("overfit_one_batch", "loss_decreasing", "input_independent_baseline",
                       "inference_mode", "gradient_health", "dead_units"),
    "sequence_leak": (),
    "loss_decreasing": ("overfit_one_batch", "input_independent_baseline", "gradient_health",
                        "dead_units", "inference_mode", "loss_at_init"),
    "inference_mode": ("input_independent_baseline",),
    "reproducibility": (),
    "batch_independence": ("input_independent_baseline",),
    "gradient_health": ("dead_units", "overfit_one_batch", "loss_decreasing",
                        "input_independent_baseline"),
    "dead_units": ("overfit_one_batch", "loss_decreasing", "input_independent_baseline"),
    "overfit_one_batch": ("loss_decreasing", "input_independent_baseline"),
}  # fmt: skip
# the order in which causes are looked for: the setup before what training shows
PRECEDENCE = ("labels", "output_and_loss", "loss_at_init", "input_scale", "validation_data",
              "frozen_inputs", "sequence_leak", "regularization", "loss_decreasing",
              "inference_mode", "gradient_health", "dead_units", "overfit_one_batch")  # fmt: skip
# checks cheap enough to run again on the fixed copy beside the consequences
CHEAP = {"labels", "output_and_loss", "loss_at_init", "validation_data", "regularization"}
# checks the runner can run again (first_step is the script's own, not among them)
RERUNNABLE = set(PRECEDENCE) | {"overfit_one_batch", "input_independent_baseline",
                                "reproducibility", "batch_independence"}  # fmt: skip


def _bad(r: CheckResult) -> bool:
    return r.status in ("warn", "fail")


def _explains(root: CheckResult, other: CheckResult) -> bool:
    if other.name not in EXPLAINS.get(root.name, ()) or not _bad(other):
        return False
    if root.name == "loss_at_init" and not root.details.get("root"):
        return False  # the init scale or the output bias: slow, not the cause of failures
    if other.name in (root.details.get("trial") or {}).get("still_failing", ()):
        return False  # its fix trial left it failing: a finding of its own
    if root.name == "inference_mode":  # only a baseline that learned in training mode
        d = other.details
        real, zeros = d.get("real", {}), d.get("zeros", {})
        train = real.get("training", math.nan) / max(zeros.get("training", math.nan), 1e-12)
        return bool(train < 0.98)
    return True


def diagnose(results: list[CheckResult]) -> list[CheckResult]:
    """The root causes among ``results``, most basic first; each finding a root cause
    explains gets ``caused_by``. Findings are taken in causal order (``PRECEDENCE``:
    the setup before what training shows): each one not yet explained is a root cause
    and claims the later findings it explains (``EXPLAINS``). Root causes that fail, or
    that explain a failure, come first; then the warnings that stand alone."""
    for r in results:
        r.caused_by = None
    order = {name: i for i, name in enumerate(PRECEDENCE)}

    def rank(r: CheckResult) -> tuple:
        place = order.get(r.name, len(order))
        if r.name == "loss_at_init" and not r.details.get("root"):
            place = len(order)  # a slow start, read after the rest
        return place, results.index(r)

    ranked = sorted((r for r in results if _bad(r)), key=rank)
    roots: list[CheckResult] = []
    for r in ranked:
        if r.caused_by is not None:
            continue
        roots.append(r)
        for o in results:
            if o is not r and o.caused_by is None and o not in roots and _explains(r, o):
                o.caused_by = r.name

    def weight(r: CheckResult) -> int:
        if r.status == "fail":
            return 0
        return 1 if any(o.caused_by == r.name and o.status == "fail" for o in results) else 2

    return sorted(roots, key=lambda r: (weight(r), roots.index(r)))


# ---------------------------------------------------------------- fix trials

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
    if fix.get("split") == "shuffle":
        words.append("the rows shuffled before the validation split")
    if "dropout" in fix:
        words.append(", ".join(f"{name} rate {rate:g}" for name, rate in fix["dropout"].items()))
    if "penalty" in fix:
        words.append(f"the weight penalties times {fix['penalty']:g}")
    if "bn_momentum" in fix:
        words.append(f"BatchNormalization momentum {fix['bn_momentum']:g}")
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
) -> list[dict]:
    """For each root cause with a mechanical fix, the trial: ``rerun(build, train, val,
    checks)`` (the runner, same plan) on a copy with the fix applied; the before/after
    of every check run again goes into ``root.details["trial"]``. A warning whose fix
    clears a failing consequence becomes a FAIL (the harm is measured); a consequence the
    fix leaves failing is no longer marked as caused by it. ``allowed(seconds)`` says
    whether a trial estimated at ``seconds`` still fits the time budget."""
    trials = []
    for root in roots:
        fix = root.fix
        if not fix:
            continue
        after_of = [r for r in results if r.caused_by == root.name and r.name in RERUNNABLE]
        names = [r.name for r in after_of]
        if root.name in CHEAP or not names:
            names = [root.name, *names] if root.name in RERUNNABLE else names
        if root.name == "inference_mode":  # it reads loss_decreasing's training
            names = ["loss_decreasing", *names]
        names = [n for n in dict.fromkeys(names)]
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
        trial = {
            "change": change,
            "checks": checks,
            "cleared": cleared,
            "still_failing": [n for n in failing if n not in cleared],
            "fixed": bool(failing) and len(cleared) == len(failing),
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


# ---------------------------------------------------------------- locations

# what each finding is about, where the user's code made it
_SUBJECT = {
    "input_scale": ("x", "fit"),
    "validation_data": ("validation", "fit"),
    "labels": ("y", "fit"),
    "input_independent_baseline": ("x", "fit"),
    "loss_decreasing": ("optimizer", "compile"),
    "overfit_one_batch": ("optimizer", "compile"),
    "first_step": ("compile", "fit"),
    "loss_at_init": ("compile",),
    "reproducibility": ("fit",),
}


def subject_layer(result: CheckResult, model) -> str | None:
    """The name of the layer a finding is about, where it is about one."""
    details = result.details
    if details.get("layer"):
        return details["layer"]
    only_loss = ("loss" in result.fix or "from_logits" in result.fix) and (
        "activation" not in result.fix)
    if only_loss or (result.name == "loss_at_init" and result.details.get("root")):
        return None  # a loss: compile's loss= line
    if result.name in ("output_and_loss", "loss_at_init"):
        layer = activation_layer(model) if model is not None else None
        return None if layer is None else layer.name
    if result.name in ("gradient_health", "dead_units") and details.get("layers"):
        values = details.get("after") or details.get("init") or []
        finite = [(v, i) for i, v in enumerate(values) if isinstance(v, float) and math.isfinite(v)]
        if finite:
            pick = min(finite) if result.name == "gradient_health" else max(finite)
            return details["layers"][pick[1]]
    return None


def subjects(r: CheckResult) -> tuple[str, ...]:
    """Where a finding's cause was given, most precise first: its fix says what must
    change (a loss is changed in compile's ``loss=``, a learning rate where the
    optimizer is made, a split in ``fit``)."""
    fix = r.fix
    if r.name == "loss_decreasing" and r.message.startswith("learning-rate schedule"):
        return ("schedule", "optimizer", "compile")
    if "learning_rate" in fix:
        return ("optimizer", "compile")
    if fix.get("split"):
        return ("fit",)
    if ("loss" in fix or "from_logits" in fix) and "activation" not in fix:
        return ("loss", "compile")
    if r.name == "loss_at_init" and r.details.get("root"):
        return ("loss", "compile")
    return _SUBJECT.get(r.name, ("fit",))


def locate(results: list[CheckResult], sites: Sites, model=None) -> None:
    """``location`` for every finding that is not a pass: the layer it is about, else
    the call (``fit``, ``compile``'s loss, the optimizer, the arrays) its cause was
    given in."""
    for r in results:
        if r.status == "pass" or r.location is not None:
            continue
        where = None
        name = subject_layer(r, model)
        if name is not None:
            where = sites.layer(name)
        for subject in subjects(r):
            if where is None:
                where = sites.get(subject)
        if where is not None:
            r.location = where.as_dict()


# ---------------------------------------------------------------- words


def where_words(r: CheckResult) -> str:
    loc = r.location
    if not loc:
        return ""
    return f"{Path(loc['file']).name}:{loc['line']}  {loc['code']}"


def trial_words(trial: dict) -> str:
    """``"with a sigmoid output activation: loss_decreasing FAIL -> pass (4.1 s)"``."""
    if not trial or not ({"checks", "skipped", "error"} & set(trial)):
        return ""
    if "skipped" in trial or "error" in trial:
        return f"fix trial ({trial['change']}) not run: {trial.get('skipped') or trial['error']}"
    marks = {"pass": "pass", "warn": "warn", "fail": "FAIL", "error": "error", None: "-"}
    moves = ", ".join(
        f"{name} {marks[c['before']]} -> {marks[c['after']]}" for name, c in trial["checks"].items()
    )
    verdict = ("the failing checks pass" if trial["fixed"] else
               f"still failing: {', '.join(trial['still_failing'])}" if trial["still_failing"]
               else "nothing was failing")  # fmt: skip
    return f"fix trial, with {trial['change']}: {moves}; {verdict} ({trial['seconds']:.1f} s)"


def lines(roots: list[CheckResult], results: list[CheckResult]) -> list[str]:
    """The diagnosis as text lines: each root cause with its line in the script, its
    evidence and fix (its message), the fix trial, and its consequences."""
    if not roots:
        bad = [r for r in results if _bad(r)]
        return ["Diagnosis: no root cause; " + (
            f"{len(bad)} warning(s), none that explains a failure" if bad
            else "every check passed")]  # fmt: skip
    out = [f"Diagnosis: {len(roots)} root cause{'s' if len(roots) > 1 else ''}"]
    marks = {"warn": "warn", "fail": "FAIL"}
    for i, root in enumerate(roots, 1):
        where = where_words(root)
        out.append(f"  {i}. {root.name} ({marks[root.status]})" + (f" at {where}" if where else ""))
        out.append(f"     {root.message}")
        trial = root.details.get("trial")
        if trial:
            out.append(f"     {trial_words(trial)}")
        after = [r for r in results if r.caused_by == root.name]
        if after:
            out.append("     consequences (no advice of their own): " + ", ".join(
                f"{r.name} {marks[r.status]}" for r in after))  # fmt: skip
    return out


def consequence_words(r: CheckResult) -> str:
    """A consequence's figures without advice: ``"because of input_scale (measured
    2.31, expected <= 2.08)"``."""
    figures = []
    if r.measured is not None:
        figures.append(f"measured {_short(r.measured)}")
    if r.expected is not None:
        figures.append(f"expected {_short(r.expected)}")
    return f"because of {r.caused_by}" + (f" ({', '.join(figures)})" if figures else "")


def _short(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)
