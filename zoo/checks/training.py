"""Checks that train the program's model for a short while and read what happened:
two seeded runs agree (``reproducibility``), one small batch can be memorized
(``overfit_one_batch``), the loss falls on real mini-batches (``loss_decreasing``),
and it reads alike in training and inference mode (``inference_mode``). The baselines
are in ``baseline``."""

from __future__ import annotations

import math
from collections.abc import Callable

import keras
import numpy as np

from zoo.callbacks import check_schedule
from zoo.checks.base import (
    CheckResult,
    arrays,
    fit_steps,
    frozen_note,
    rate_fix,
    read_modes,
    register,
    relative_drop,
    start_from_labels,
    still_falling,
    train_batches,
)
from zoo.checks.keras_private import learning_rate_schedule
from zoo.models import leaf_layers
from zoo.outputs import data_loss, loss_kind, resolve_loss

FAMILY = "training"


@register(FAMILY)
def reproducibility(
    build: Callable, train, *, steps: int = 5, seed: int = 1234, batch_size: int = 32
) -> CheckResult:
    """Two short runs with the same seed must give identical losses."""
    x, y, w = arrays(train, limit=batch_size * steps)
    runs = []
    for _ in range(2):
        keras.utils.set_random_seed(seed)
        model = build()
        runs.append(fit_steps(model, x, y, steps, batch_size, seed=seed, sample_weight=w))
    a, b = np.array(runs[0]), np.array(runs[1])
    if len(a) != len(b) or not np.array_equal(np.isfinite(a), np.isfinite(b)):
        diff = math.inf  # one run diverged where the other did not
    else:  # NaN where both runs are NaN is agreement (the divergence is loss_decreasing's)
        finite = np.isfinite(a)
        diff = float(np.max(np.abs(a[finite] - b[finite]), initial=0.0))
    passed = diff <= 1e-6 * max(1.0, float(np.max(np.abs(a[np.isfinite(a)]), initial=1.0)))
    return CheckResult(
        "reproducibility",
        passed,
        diff,
        0.0,
        f"two seeded runs of {steps} steps agree (max loss difference {diff:.1e})"
        if passed
        else f"two runs with the same seed differ by up to {diff:.3g} in loss; something is "
        "not seeded (call keras.utils.set_random_seed, seed every shuffle and random layer) "
        "or an op is nondeterministic (tf.config.experimental.enable_op_determinism())",
        details={"losses": [runs[0], runs[1]]},
    )



def _shown(value) -> str:
    return f"{float(value):.4g}" if isinstance(value, int | float | np.number) else repr(value)


def _row_keys(x: np.ndarray) -> list:
    """A hashable key per row (text rows by their strings)."""
    rows = x.reshape(len(x), -1)
    if x.dtype.kind == "O":
        return [repr(tuple(r)) for r in rows]
    return [np.ascontiguousarray(r).tobytes() for r in rows]


def _floor(x: np.ndarray, y: np.ndarray, kind: str) -> float:
    """The lowest loss any model can reach on ``(x, y)``: above 0 only when identical
    inputs carry different labels."""
    groups: dict[str, list[int]] = {}
    for i, key in enumerate(_row_keys(x)):
        groups.setdefault(key, []).append(i)
    total = 0.0
    for rows in groups.values():
        t = y[rows]
        if kind == "regression":
            total += float(((t - t.mean(axis=0)) ** 2).sum())
        else:
            _, counts = np.unique(t, return_counts=True, axis=0)
            p = counts / counts.sum()
            total += float(-(counts * np.log(p)).sum())
    return total / len(x)


@register(FAMILY)
def overfit_one_batch(
    build: Callable, train, *, examples: int = 16, max_steps: int = 1000, target: float = 0.05
) -> CheckResult:
    """A fresh model trained on one small batch must drive its loss close to the floor
    (zero unless identical inputs have different labels): below ``target`` for
    classification, below ``target`` x the initial loss for regression, read in either
    mode. Short of that it warns while the loss moves (it fell by a tenth, or was still
    falling at the end: a slow learner, which the program's own longer training may
    carry through); it fails when the loss cannot move: stuck within a tenth of where
    it started after ``max_steps`` steps."""
    x, y, w = arrays(train, limit=examples)
    if w is not None:  # read on the scale of unweighted losses: the goal stays comparable
        w = w / max(float(np.mean(w)), 1e-12)
    model = build()
    kind = loss_kind(model)
    start_from_labels(model, y)

    def read() -> float:  # either mode: dropout keeps the training-mode loss up, lagging
        # moving statistics the inference-mode one
        return min(data_loss(model, x, y, sample_weight=w, training=mode) for mode in (True, False))

    start = read()
    floor = _floor(x, y, kind)
    goal = floor + (target * start if kind == "regression" else target)
    losses = []
    reached = None
    for step in range(10, max(max_steps, 10) + 1, 10):  # ten steps, then a reading
        train_batches(model, [x] * 10, [y] * 10, None if w is None else [w] * 10)
        losses.append(read())
        if losses[-1] <= goal:
            reached = step
            break
    measured = losses[-1]
    drop = (start - measured) / max(abs(start), 1e-12)
    distinct = len(set(_row_keys(x)))
    # a loss zoo does not know may have a floor above zero (label smoothing): there,
    # a large drop that has stopped is the batch memorized
    flat = len(losses) >= 3 and abs(losses[-3] - measured) <= 0.01 * max(abs(measured), 1e-12)
    custom = resolve_loss(model).kind == "custom"
    status = "pass" if reached is not None or (custom and flat and drop >= 0.5) else None
    if distinct == 1 and len(x) > 1:
        status = "fail"
        message = (
            f"all {len(x)} inputs of the batch are identical (every value "
            f"{_shown(x.reshape(-1)[0])}), so nothing can tell their labels apart: the "
            "preprocessing zeroes or constant-fills the inputs (an integer division, a cast "
            "to int of values below 1, a wrong column)"
        )
    elif status == "pass":
        steps = reached or max_steps
        message = (
            f"loss on {len(x)} examples fell from {start:.4g} to {measured:.4g} in {steps} steps"
            + ("" if reached else " and stopped there (the floor of this custom loss)")
        )
    elif drop >= 0.1 or still_falling(losses):
        status = "warn"
        message = (
            f"after {max_steps} steps on {len(x)} examples the loss fell from {start:.4g} to "
            f"{measured:.4g}, not yet to {goal:.3g}, and "
            + ("was still falling" if still_falling(losses) else "has slowed down")
            + ": the model learns, slowly. With this optimizer and learning rate it needs "
            "more steps than checked; a larger learning rate, or less regularization and "
            "dropout, would let it fit one batch sooner"
        )
    else:
        status = "fail"
        message = (
            f"after {max_steps} steps on {len(x)} examples the loss is {measured:.4g} "
            f"(started {start:.4g}, goal <= {goal:.3g}): the model cannot memorize one batch. "
            "Common causes: frozen or non-trainable layers, a learning rate far too small, "
            "regularization or dropout so strong nothing fits, a clipped loss, softmax "
            "applied before a from-logits loss, labels that do not match the inputs' order, "
            "or too little capacity"
        )
    frozen = frozen_note(model) if status != "pass" else ""
    message += frozen
    return CheckResult(
        "overfit_one_batch",
        status != "fail",
        measured,
        goal,
        message,
        details={"losses": losses, "start": start, "floor": floor,
                 **({"fix": {"unfreeze": True}, "root": True} if "No weight" in frozen else {})},
        status=status,
    )


# learning rates outside these are unusual for the optimizer (10x beyond what is common)
_ADAPTIVE = ("Adam", "AdamW", "Nadam", "Adamax", "RMSprop", "Adagrad", "Adafactor", "Lamb")
_RATE_RANGES = {**{name: (1e-6, 0.05) for name in _ADAPTIVE}, "Lion": (1e-7, 0.01),
                "SGD": (1e-5, 2.0)}  # fmt: skip


def _unusual_rate(optimizer: str, rate: float) -> str:
    """Words on a learning rate far outside the optimizer's usual range; empty if not."""
    low, high = _RATE_RANGES.get(optimizer, (0.0, np.inf))
    if low <= rate <= high:
        return ""
    side = "large" if rate > high else "small"
    return (
        f"learning rate {rate:g} is unusually {side} for {optimizer} (common: {low * 10:g} to "
        f"{high / 10:g})"
    )


@register(FAMILY)
def loss_decreasing(
    build: Callable,
    train,
    *,
    steps: int = 100,
    batch_size: int = 32,
    total_steps: int | None = None,
    min_drop: float = 0.05,
) -> CheckResult:
    """``steps`` optimizer steps on real mini-batches must lower the loss on the
    training examples by at least ``min_drop`` (relative), read in both modes
    (``read_modes``): in the mode training uses, and in inference mode, where neither
    batch noise nor dropout blurs it. It fails only when neither falls (or the loss
    turns NaN, or grows); a gap between the modes is ``inference_mode``'s finding. The
    learning-rate schedule must not fall below 1% of its peak before half of
    ``total_steps``."""
    model = build()
    x, y, w = arrays(train, limit=4096)
    start_from_labels(model, y)
    probe = slice(0, min(len(x), 512))  # read in both modes, before and after
    wp = None if w is None else w[probe]
    first = read_modes(model, x[probe], y[probe], wp)
    losses = fit_steps(model, x, y, steps, batch_size, sample_weight=w)
    last = read_modes(model, x[probe], y[probe], wp)
    drops = {mode: relative_drop(first[mode], last[mode]) for mode in first}
    mode = max(drops, key=lambda m: drops[m] if math.isfinite(drops[m]) else -math.inf)
    drop = drops[mode]
    said = f"{first[mode]:.4g} -> {last[mode]:.4g}" + (
        f", read in {mode} mode" if abs(drops["training"] - drops["inference"]) > 0.05 else ""
    )
    schedule = learning_rate_schedule(model.optimizer)
    warning = check_schedule(schedule, total_steps or steps * 20, warn=False)
    rate = float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))
    optimizer = type(model.optimizer).__name__
    unusual = _unusual_rate(optimizer, rate)
    early, late = float(np.mean(losses[:5])), float(np.mean(losses[-10:]))
    finite = np.all(np.isfinite(losses)) and math.isfinite(last["training"])
    if not finite:
        step = next((i + 1 for i, v in enumerate(losses) if not np.isfinite(v)), len(losses))
        status = "fail"
        message = (
            f"the loss became NaN or infinite at step {step} with {optimizer} at learning "
            f"rate {rate:g}: lower the learning rate (try {rate / 10:g}), scale the inputs, or "
            "clip gradients (clipnorm=1.0)"
        )
    elif warning:
        status, message = "fail", f"learning-rate schedule: {warning}"
    elif late > 2 * early and last["training"] > first["training"] and drop < min_drop:
        status = "fail"
        message = (
            f"the loss grows: {early:.4g} over the first 5 steps, {late:.4g} over the last 10, "
            f"with {optimizer} at learning rate {rate:g}: too large a learning rate for this "
            f"model and optimizer (try {rate / 10:g})"
        )
    elif drop >= min_drop:
        status = "pass"
        message = f"training loss fell {drop:.0%} in {steps} steps ({said})"
    elif drop >= 0.005:
        status = "warn"
        message = (
            f"training loss fell only {drop:.1%} in {steps} steps ({said}): "
            "it learns, slowly, at this learning rate; the first epochs will move little"
        )
    else:
        status = "fail"
        message = (
            f"training loss moved {-drop:+.1%} in {steps} steps ({said}), in training and "
            f"in inference mode alike; expected a drop of at least {min_drop:.0%}. Check the "
            "learning rate (too small, or a schedule already near zero), frozen layers, and "
            "that the loss is not clipped"
        )
    frozen = frozen_note(model) if status != "pass" else ""
    message += frozen
    fix, root = {}, False
    if status == "fail" and (not finite or "grows" in message):
        fix, root = rate_fix(model.optimizer, lower=True), True
    elif status != "pass" and "unusually small" in unusual:
        fix, root = rate_fix(model.optimizer, lower=False), True
    elif warning:  # a schedule that decays too soon: its starting rate, held constant
        fix, root = {"learning_rate": float(keras.ops.convert_to_numpy(schedule(0)))}, True
    if "No weight" in frozen:
        fix, root = {"unfreeze": True}, True
    if unusual:  # said with any verdict; alone it makes a warning
        status, message = ("warn" if status == "pass" else status), f"{message}; {unusual}"
    return CheckResult(
        "loss_decreasing",
        status != "fail",
        last[mode],
        f"<= {(1 - min_drop) * first[mode]:.4g}",
        message,
        details={"losses": losses, "drop": drop, "first": first, "last": last, "mode": mode,
                 "fix": fix, "root": root},
        status=status,
    )


def _batch_normalizations(model) -> list:
    return [la for la in leaf_layers(model) if isinstance(la, keras.layers.BatchNormalization)]


def slow_start(results: list[CheckResult], total_steps: int | None, steps: int) -> None:
    """A ``loss_decreasing`` that failed on a loss that barely moved in its few steps
    goes back to a warning when ``input_independent_baseline``'s longer training
    (``steps``), with the same optimizer, learned clearly (it passed) and the program's
    own training (``total_steps``, None: unknown) is at least three times that long: a
    slow start the program outgrows, not a model that cannot learn. Divergence, a
    schedule and frozen weights stay failures."""
    by_name = {r.name: r for r in results}
    loss, base = by_name.get("loss_decreasing"), by_name.get("input_independent_baseline")
    if loss is None or base is None or loss.status != "fail" or base.status != "pass":
        return
    if total_steps is None or total_steps < 3 * steps:
        return  # the program stops before it would get going
    losses = np.asarray(loss.details.get("losses", [np.nan]), "float64")
    if loss.fix or not np.all(np.isfinite(losses)) or not loss.message.startswith(
        "training loss moved"
    ):
        return
    loss.status, loss.passed = "warn", True
    loss.message += (f". A slow start only: in {steps} steps with this optimizer the baseline "
                     f"learned ({base.message}), and the program trains {total_steps}")  # fmt: skip


@register(FAMILY)
def inference_mode(
    model, loss_decreasing_details: dict, *, gap: float = 1.5, total_steps: int | None = None
) -> CheckResult:
    """After ``loss_decreasing``'s short training, the loss on the training examples
    read in inference mode (what validation, ``evaluate`` and predictions see) must not
    be far above the loss read in training mode (``gap`` times): when it is, the model
    behaves differently once trained than while it trains (BatchNormalization's moving
    statistics lagging behind its weights, a layer whose ``training`` branch differs).
    A warning: it can settle with more training; the loss curves say which. A failure
    when it cannot: BatchNormalization whose moving statistics would still hold more
    than a tenth of their initial values at the end of the program's own training
    (``momentum ** total_steps > 0.1``), so validation and predictions stay wrong."""
    last = loss_decreasing_details.get("last") or {}
    train, infer = last.get("training"), last.get("inference")
    if train is None or infer is None or not (math.isfinite(train) and math.isfinite(infer)):
        return CheckResult("inference_mode", True, None, None, "no finite losses to compare "
                           "(see loss_decreasing)", status="warn")  # fmt: skip
    norms = _batch_normalizations(model)
    measured = infer / max(train, 1e-12)
    if infer > gap * train and infer - train > 0.05:
        slow = [la for la in norms if float(getattr(la, "momentum", 0)) >= 0.99]
        cause = (
            f"{len(norms)} BatchNormalization layer(s) "
            + (f"with momentum {slow[0].momentum:g}: their moving statistics lag behind the "
               "weights in a short training. Lower the momentum (momentum=0.9), or train "
               "longer before reading validation" if slow else
               "whose moving statistics differ from the batches' statistics")
            if norms else "a layer that behaves differently in training and inference "
            "(Dropout alone makes the training-mode loss the higher one, not the lower)"
        )  # fmt: skip
        status, stays = "warn", ""
        if slow and total_steps:
            left = float(slow[0].momentum) ** total_steps
            if left > 0.1:
                status = "fail"
                stays = (f". With momentum {slow[0].momentum:g}, after the program's own "
                         f"{total_steps} steps the moving statistics still hold {left:.0%} of "
                         "their initial values: the trained model will be read wrong")
        return CheckResult(
            "inference_mode", status != "fail", measured, f"<= {gap:g}",
            f"after {len(loss_decreasing_details.get('losses', []))} steps the training "
            f"examples' loss is {infer:.4g} in inference mode against {train:.4g} in training "
            f"mode: validation and predictions will look worse than training does. Cause: "
            f"{cause}{stays}", status=status, details={
                "training": train, "inference": infer, "root": True,
                "fix": {"bn_momentum": 0.9} if norms and slow else {},
                "layer": (slow or norms)[0].name if norms else None},
        )  # fmt: skip
    return CheckResult(
        "inference_mode", True, measured, f"<= {gap:g}",
        f"the loss in inference mode ({infer:.4g}) is in line with training mode ({train:.4g})",
        details={"training": train, "inference": infer},
    )  # fmt: skip
