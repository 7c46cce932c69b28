"""The recipe's sanity checks, one function each. Each returns a ``CheckResult``:
``name``, ``passed``, ``measured``, ``expected`` and a ``message`` a person can act on.

A check takes ``build`` (a zero-argument callable returning a fresh compiled
``keras.Model``) and/or a model, and data as ``tf.data`` batches or ``(x, y)`` arrays,
already preprocessed (what enters the model). Thresholds are set so that correct
setups pass on every seed tried (digits/convnet, breast_cancer/mlp, diabetes/mlp) and
the silent bugs the notes list fail; ``tests/test_recipe_checks.py`` holds them to both.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np

from zoo.callbacks import check_schedule
from zoo.data import as_arrays
from zoo.models import leaf_layers
from zoo.outputs import (
    LossInfo,
    class_prior,
    data_loss,
    final_activation,
    init_output_bias,
    loss_kind,
    output_layer,
    resolve_loss,
)

STATUSES = ("pass", "warn", "fail", "error")


@dataclass
class CheckResult:
    """One check's verdict. ``status``: ``fail`` (measured on this model and data: it
    cannot train well as written), ``warn`` (suspicious, or it works but the recipe
    would do better), ``pass``, or ``error`` (the check could not run: ``message``
    says why; never counted as a pass); ``passed`` is "not a fail"."""

    name: str
    passed: bool
    measured: Any
    expected: Any
    message: str
    seconds: float = 0.0
    details: dict = field(default_factory=dict)
    status: str = ""

    def __post_init__(self):
        if not self.status:
            self.status = "pass" if self.passed else "fail"
        if self.status not in STATUSES:
            raise ValueError(f"status={self.status!r} must be one of {STATUSES}.")
        self.passed = self.status != "fail"

    def as_record(self) -> dict:
        """What ``metrics.json`` and ``check.json`` hold of the result (figures that
        are not plain numbers or text as text)."""

        def plain(v):
            return v if isinstance(v, float | int | str | bool) or v is None else str(v)

        return {
            "name": self.name,
            "status": self.status,
            "passed": self.passed,
            "message": self.message,
            "measured": plain(self.measured),
            "expected": plain(self.expected),
            "seconds": self.seconds,
        }

    def line(self) -> str:
        mark = {"pass": "pass", "warn": "warn", "fail": "FAIL", "error": "error"}[self.status]
        return f"[{mark}] {self.name}: {self.message}"


# ---------------------------------------------------------------- helpers


def fit_steps(
    model, x, y, steps: int, batch_size: int, seed: int = 0, sample_weight=None
) -> list[float]:
    """``steps`` optimizer steps on shuffled mini-batches of ``(x, y)`` (weighted by
    ``sample_weight``, per row, as the program's ``fit`` weighs them); the losses."""
    rng = np.random.default_rng(seed)
    losses, order = [], np.array([], int)
    for _ in range(steps):
        if len(order) < batch_size:
            order = np.concatenate([order, rng.permutation(len(x))])
        idx, order = order[:batch_size], order[batch_size:]
        weights = None if sample_weight is None else sample_weight[idx]
        out = model.train_on_batch(x[idx], y[idx], sample_weight=weights, return_dict=True)
        losses.append(float(out["loss"]))
        if not math.isfinite(losses[-1]):
            break  # diverged: the steps after say nothing more
    return losses


def arrays(train, limit: int | None = None):
    """``(x, y, sample_weight)`` from the checks' data: ``(x, y)`` or ``(x, y, w)``
    arrays (``w`` None when the program weighs no row), at most ``limit`` rows."""
    x, y = as_arrays(train, limit=limit)
    w = None
    if isinstance(train, tuple | list) and len(train) == 3 and train[2] is not None:
        w = np.asarray(train[2], "float64")[: len(x)]
    return x, y, w


def snapshot(model) -> Callable[[], None]:
    """A function that puts ``model`` and its optimizer back as they are now: every
    variable (weights, normalization statistics, random-seed states) and the
    optimizer's slots and step count. One compiled model, whose train step is traced
    once, then serves several short trainings."""
    optimizer = model.optimizer
    if optimizer is not None and not optimizer.built:
        optimizer.build(model.trainable_variables)
    variables = list(model.variables) + (list(optimizer.variables) if optimizer else [])
    values = [np.array(keras.ops.convert_to_numpy(v)) for v in variables]

    def restore() -> None:
        for variable, value in zip(variables, values, strict=True):
            variable.assign(value)

    return restore


def reusable(build: Callable) -> Callable:
    """A ``build`` that builds once, then hands back the same model put back to its
    first state (``snapshot``) at each call."""
    state: dict = {}

    def again():
        if "model" not in state:
            state["model"] = build()
            state["restore"] = snapshot(state["model"])
        else:
            state["restore"]()
        return state["model"]

    return again


def frozen_note(model) -> str:
    """A sentence on weights frozen by ``trainable = False`` (not counting the moving
    statistics of normalization layers, which are never trained); empty when none."""
    sizes = {True: 0, False: 0}
    for w in model.weights:
        if not w.trainable and w.path.rsplit("/", 1)[-1].startswith(("moving_", "seed_")):
            continue
        sizes[bool(w.trainable)] += int(np.prod(w.shape))
    if sizes[False] == 0:
        return ""
    if sizes[True] == 0:
        return (
            ". No weight of the model is trainable (model.trainable = False, or every layer "
            "frozen): nothing can learn. Set trainable = False on the part meant to stay fixed"
        )
    total = sizes[True] + sizes[False]
    return f" ({sizes[False]:,} of the model's {total:,} weights are frozen: trainable = False)"


def timed(fn):
    def wrapper(*args, **kwargs) -> CheckResult:
        start = time.perf_counter()
        result = fn(*args, **kwargs)
        result.seconds = round(time.perf_counter() - start, 2)
        return result

    wrapper.__name__, wrapper.__doc__ = fn.__name__, fn.__doc__
    return wrapper


# ---------------------------------------------------------------- checks


@timed
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


def expected_initial_loss(model, y) -> tuple[float, str]:
    """The loss a model should have at initialization given its output bias: the
    cross-entropy of the labels under the distribution the bias alone predicts
    (``log(C)`` when the bias is 0, the label entropy when it is the log prior), or for
    regression the mean squared distance of the targets from the bias."""
    layer = output_layer(model)
    bias = (
        np.asarray(keras.ops.convert_to_numpy(layer.bias), "float64")
        if layer is not None
        else np.zeros(units(model))
    )
    kind = loss_kind(model)
    y = np.asarray(y)
    if kind == "regression":
        name = resolve_loss(model).name
        err = y.reshape(len(y), -1) - bias
        if "absolute" in name:
            return float(np.mean(np.abs(err))), "mean |target - output bias|"
        if "huber" in name:
            a = np.abs(err)
            return float(np.mean(np.where(a <= 1, 0.5 * a**2, a - 0.5))), "Huber of target - bias"
        return float(np.mean(err**2)), "mean squared (target - output bias)"
    if kind == "binary":
        p = float(np.mean(y))
        q = 1 / (1 + math.exp(-float(bias[0])))
        return -(p * math.log(q) + (1 - p) * math.log(1 - q)), "label cross-entropy under the bias"
    labels = y.argmax(axis=-1) if y.ndim > 1 else y
    prior = class_prior(labels, len(bias))
    logq = bias - bias.max() - np.log(np.sum(np.exp(bias - bias.max())))
    expected = float(-(prior * logq).sum())
    if np.allclose(bias, bias[0]):
        return expected, f"log({len(bias)}), the output bias being zero"
    logp = np.log(np.clip(prior, 1e-6, None))
    if np.allclose(bias - bias.mean(), logp - logp.mean(), atol=1e-3):
        return expected, "the entropy of the class prior, the output bias set from it"
    return expected, "the labels' cross-entropy under the output bias"


def units(model) -> int:
    """The model's number of outputs (a subclassed model has no ``output_shape``)."""
    try:
        return int(model.output_shape[-1])
    except (AttributeError, ValueError, TypeError):
        layer = output_layer(model)
        if layer is None:
            raise ValueError("cannot tell how many outputs the model has") from None
        return int(layer.bias.shape[0])


def best_initial_loss(model, y) -> float:
    """The loss of predicting the label distribution (or target mean) from the bias
    alone: the label entropy, the target variance."""
    kind = loss_kind(model)
    y = np.asarray(y)
    if kind == "regression":
        err = y.reshape(len(y), -1) - y.reshape(len(y), -1).mean(axis=0)
        name = resolve_loss(model).name
        if "absolute" in name:  # the median minimizes L1
            err = y.reshape(len(y), -1) - np.median(y.reshape(len(y), -1), axis=0)
            return float(np.mean(np.abs(err)))
        return float(np.mean(err**2))
    if kind == "binary":
        p = float(np.clip(np.mean(y), 1e-9, 1 - 1e-9))
        return -(p * math.log(p) + (1 - p) * math.log(1 - p))
    labels = y.argmax(axis=-1) if y.ndim > 1 else y
    prior = class_prior(labels, units(model))
    prior = prior[prior > 0]
    return float(-(prior * np.log(prior)).sum())


def _as_probabilities(out: np.ndarray, info: LossInfo) -> np.ndarray:
    """Outputs as the loss reads them: class probabilities (n, C), or the probability
    of class 1 (n, 1) for a binary loss."""
    out = np.asarray(out, "float64")
    if info.from_logits:
        if info.kind == "binary":
            out = 1 / (1 + np.exp(-out))
        else:
            out = np.exp(out - out.max(axis=-1, keepdims=True))
            out = out / out.sum(axis=-1, keepdims=True)
    return np.clip(out, 1e-7, 1 - 1e-7)


def standard_loss(info: LossInfo, y: np.ndarray, out: np.ndarray) -> float | None:
    """The textbook value of the loss ``info`` names for labels ``y`` and model outputs
    ``out`` (logits or probabilities, as the loss takes them); None for a loss zoo does
    not know."""
    y = np.asarray(y)
    if info.kind == "softmax":
        p = _as_probabilities(out, info)
        labels = y.argmax(-1) if y.ndim > 1 and y.shape[-1] > 1 else y.reshape(-1)
        return float(-np.mean(np.log(p[np.arange(len(p)), labels.astype(int)])))
    if info.kind == "binary":
        p = _as_probabilities(out, info).reshape(len(y), -1)
        t = y.reshape(len(y), -1).astype("float64")
        return float(-np.mean(t * np.log(p) + (1 - t) * np.log(1 - p)))
    if info.kind == "regression":
        err = y.reshape(len(y), -1) - np.asarray(out, "float64").reshape(len(y), -1)
        if "absolute" in info.name:
            return float(np.mean(np.abs(err)))
        if "huber" in info.name:
            delta = float(getattr(info.fn, "_fn_kwargs", {}).get("delta", 1.0))
            a = np.abs(err)
            return float(np.mean(np.where(a <= delta, 0.5 * a**2, delta * (a - 0.5 * delta))))
        if "squared" in info.name or info.name in ("mse",):
            return float(np.mean(err**2))
    return None


@timed
def loss_at_init(
    model, train, *, tolerance: float = 0.1, large: float = 0.05, limit: int = 1024
) -> CheckResult:
    """The loss before training, held to what the model's outputs as they are imply.

    ``expected`` is the loss those same outputs give when they carry nothing of the
    labels (the labels shuffled against them): whatever the initializer, a model at
    initialization should sit there. It fails when the setup cannot train well: a
    softmax or sigmoid before a from-logits loss, logits fed to a loss that takes
    probabilities, a compiled loss that differs from its standard formula on the same
    outputs (clipped or scaled), or a loss far below ``expected`` (the labels leak into
    the inputs). It warns when training works but would start better: the output bias
    not set from the labels (an imbalanced task, an offset target), or a last layer
    that starts large (``expected`` more than ``large`` above what the bias alone
    implies)."""
    x, y = as_arrays(train, limit=limit)
    info = resolve_loss(model)
    # one forward pass: the outputs serve the compiled loss and the standard formula
    out = np.concatenate(
        [
            keras.ops.convert_to_numpy(model(x[i : i + 256], training=False))
            for i in range(0, len(x), 256)
        ]
    )
    measured = float(np.mean(keras.ops.convert_to_numpy(info.fn(y, out))))
    activation = final_activation(model)
    classifier = info.kind in ("softmax", "binary")

    def result(status, expected, message, **details):
        return CheckResult(
            "loss_at_init", status != "fail", measured, expected, message, details=details,
            status=status,
        )  # fmt: skip

    if classifier and info.from_logits and activation in ("softmax", "sigmoid"):
        return result(
            "fail",
            None,
            f"the model ends in {activation} but the loss takes logits (from_logits=True): "
            "it applies softmax/sigmoid a second time, which caps how confident the model "
            f"can be. Remove the final {activation}, or pass from_logits=False.",
        )
    if classifier and not info.from_logits and activation == "linear":
        return result(
            "fail",
            None,
            f"the model outputs logits (no final softmax or sigmoid) but {info.name} takes "
            "probabilities (from_logits=False, Keras' default): pass from_logits=True to the "
            "loss, or end the model in a softmax/sigmoid.",
        )
    standard = standard_loss(info, y, out)
    if standard is None:
        return result(
            "pass",
            None,
            f"initial loss {measured:.4g} with the custom loss {info.name}: measured only, "
            "there is no standard formula to hold it to",
        )
    if abs(measured - standard) > tolerance * max(standard, 1e-3):
        return result(
            "fail",
            standard,
            f"the compiled loss gives {measured:.4g} where the standard {info.name} of the "
            f"same outputs is {standard:.4g}: the loss is clipped or scaled. Clip the "
            "gradients (clipnorm), never the loss",
        )
    rng = np.random.default_rng(0)
    expected = float(
        np.mean([standard_loss(info, y[rng.permutation(len(y))], out) for _ in range(5)])
    )
    bias_implied, what = expected_initial_loss(model, y)
    best = best_initial_loss(model, y)
    details = {"bias_implied": bias_implied, "best": best}
    agree = ""
    if measured < (1 - tolerance) * expected:
        # a random network's outputs agree with labels that the inputs predict nearly
        # linearly (breast_cancer, diabetes): not a bug, so it is only said
        agree = (
            f"; {1 - measured / expected:.0%} below the {expected:.4g} of shuffled labels: "
            "the inputs already predict the labels through the random weights"
        )
    if bias_implied > (1 + tolerance) * best and measured > (1 + tolerance) * best:
        return result(
            "warn",
            best,
            f"initial loss {measured:.4g} where {best:.4g} is reachable by setting the output "
            "bias from the training labels (the class prior, or the target mean): the first "
            "iterations will only learn that bias, a hockey-stick loss curve. Call "
            "zoo.outputs.init_output_bias(model, y_train)",
            **details,
        )
    if expected > (1 + large) * bias_implied:
        return result(
            "warn",
            bias_implied,
            f"initial loss {measured:.4g}; outputs this spread score {expected:.4g} on "
            f"labels they know nothing of, {expected / bias_implied - 1:.0%} above the "
            f"{bias_implied:.4g} of outputs at the output bias ({what}): the last layer "
            "starts large, and the first steps go to shrinking it. Initialize it near zero "
            "(a smaller kernel_initializer scale)",
            **details,
        )
    return result(
        "pass",
        expected,
        f"initial loss {measured:.4g}, expected {expected:.4g} for outputs that know "
        f"nothing of the labels ({bias_implied:.4g} from the output bias alone: {what})" + agree,
        **details,
    )


def _floor(x: np.ndarray, y: np.ndarray, kind: str) -> float:
    """The lowest loss any model can reach on ``(x, y)``: above 0 only when identical
    inputs carry different labels."""
    groups: dict[str, list[int]] = {}
    for i, row in enumerate(np.ascontiguousarray(x.reshape(len(x), -1))):
        groups.setdefault(hashlib.blake2b(row.tobytes(), digest_size=12).hexdigest(), []).append(i)
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


def _still_falling(losses: list[float], fraction: float = 0.1) -> bool:
    """Whether the last third of a loss curve still fell by ``fraction`` (relative): a
    slow start, not a loss that cannot move."""
    tail = losses[-max(2, len(losses) // 3) :]
    if len(tail) < 2 or not all(math.isfinite(v) for v in tail):
        return False
    return (tail[0] - tail[-1]) > fraction * max(abs(tail[0]), 1e-12)


@timed
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
    init_output_bias(model, y)

    def read() -> float:  # either mode: dropout keeps the training-mode loss up, lagging
        # moving statistics the inference-mode one
        return min(data_loss(model, x, y, sample_weight=w, training=mode) for mode in (True, False))

    start = read()
    floor = _floor(x, y, kind)
    goal = floor + (target * start if kind == "regression" else target)
    losses = []
    reached = None
    for step in range(1, max_steps + 1):
        model.train_on_batch(x, y, sample_weight=w)
        if step % 10 == 0 or step == max_steps:
            losses.append(read())
            if losses[-1] <= goal:
                reached = step
                break
    measured = losses[-1]
    drop = (start - measured) / max(abs(start), 1e-12)
    distinct = len(np.unique(x.reshape(len(x), -1), axis=0))
    # a loss zoo does not know may have a floor above zero (label smoothing): there,
    # a large drop that has stopped is the batch memorized
    flat = len(losses) >= 3 and abs(losses[-3] - measured) <= 0.01 * max(abs(measured), 1e-12)
    custom = resolve_loss(model).kind == "custom"
    status = "pass" if reached is not None or (custom and flat and drop >= 0.5) else None
    if distinct == 1 and len(x) > 1:
        status = "fail"
        message = (
            f"all {len(x)} inputs of the batch are identical (every value "
            f"{float(x.reshape(-1)[0]):.4g}), so nothing can tell their labels apart: the "
            "preprocessing zeroes or constant-fills the inputs (an integer division, a cast "
            "to int of values below 1, a wrong column)"
        )
    elif status == "pass":
        steps = reached or max_steps
        message = (
            f"loss on {len(x)} examples fell from {start:.4g} to {measured:.4g} in {steps} steps"
            + ("" if reached else " and stopped there (the floor of this custom loss)")
        )
    elif drop >= 0.1 or _still_falling(losses):
        status = "warn"
        message = (
            f"after {max_steps} steps on {len(x)} examples the loss fell from {start:.4g} to "
            f"{measured:.4g}, not yet to {goal:.3g}, and "
            + ("was still falling" if _still_falling(losses) else "has slowed down")
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
    if status != "pass":
        message += frozen_note(model)
    return CheckResult(
        "overfit_one_batch",
        status != "fail",
        measured,
        goal,
        message,
        details={"losses": losses, "start": start, "floor": floor},
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


def read_modes(model, x, y, w=None) -> dict[str, float]:
    """The data loss on ``(x, y)`` in both modes: ``training`` (what ``fit`` trains:
    batch statistics, dropout on) and ``inference`` (what validation and predictions
    see: moving statistics)."""
    return {
        "training": data_loss(model, x, y, sample_weight=w, training=True),
        "inference": data_loss(model, x, y, sample_weight=w, training=False),
    }


def _relative_drop(first: float, last: float) -> float:
    return (first - last) / max(abs(first), 1e-12)


@timed
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
    init_output_bias(model, y)
    probe = slice(0, min(len(x), 1024))
    wp = None if w is None else w[probe]
    first = read_modes(model, x[probe], y[probe], wp)
    losses = fit_steps(model, x, y, steps, batch_size, sample_weight=w)
    last = read_modes(model, x[probe], y[probe], wp)
    drops = {mode: _relative_drop(first[mode], last[mode]) for mode in first}
    mode = max(drops, key=lambda m: drops[m] if math.isfinite(drops[m]) else -math.inf)
    drop = drops[mode]
    said = f"{first[mode]:.4g} -> {last[mode]:.4g}" + (
        f", read in {mode} mode" if abs(drops["training"] - drops["inference"]) > 0.05 else ""
    )
    schedule = model.optimizer._learning_rate
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
    if status != "pass":
        message += frozen_note(model)
    if unusual:  # said with any verdict; alone it makes a warning
        status, message = ("warn" if status == "pass" else status), f"{message}; {unusual}"
    return CheckResult(
        "loss_decreasing",
        status != "fail",
        last[mode],
        f"<= {(1 - min_drop) * first[mode]:.4g}",
        message,
        details={"losses": losses, "drop": drop, "first": first, "last": last, "mode": mode},
        status=status,
    )


def input_gradient(model, x: np.ndarray, i: int, projection: np.ndarray) -> np.ndarray | None:
    """The gradient, with respect to the whole input batch ``x``, of example ``i``'s
    output projected on ``projection`` (inference mode), on whichever backend Keras
    runs; None where the output does not depend on the input."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        xt = tf.constant(x)
        with tf.GradientTape() as tape:
            tape.watch(xt)
            out = model(xt, training=False)
            target = tf.reduce_sum(tf.cast(out[i], "float32") * projection)
        grad = tape.gradient(target, xt)
        return None if grad is None else grad.numpy()
    if backend == "jax":
        import jax
        import jax.numpy as jnp

        trainable = [v.value for v in model.trainable_variables]
        frozen = [v.value for v in model.non_trainable_variables]

        def target(xj):
            out, _ = model.stateless_call(trainable, frozen, xj, training=False)
            return jnp.sum(out[i].astype("float32") * projection)

        return np.asarray(jax.grad(target)(jnp.asarray(x)))
    if backend == "torch":
        import torch

        xt = torch.tensor(x, requires_grad=True)
        out = model(xt, training=False)
        (out[i].float() * torch.as_tensor(projection)).sum().backward()
        return None if xt.grad is None else xt.grad.detach().cpu().numpy()
    raise NotImplementedError(f"input gradients on the {backend} backend")


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


@timed
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
    if np.issubdtype(x.dtype, np.integer) or x.dtype == bool:
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
        "a reduction over axis 0 where a transpose or a per-example op was meant",
        details={"leak_fractions": leaks, "no_gradient": silent},
    )


def _majority_or_mean(y_train, y_eval, kind: str) -> tuple[str, float]:
    if kind == "regression":
        mean = np.mean(y_train, axis=0)
        return "mse", float(np.mean((y_eval - mean) ** 2))
    labels = y_train.argmax(-1) if y_train.ndim > 1 else y_train
    evals = y_eval.argmax(-1) if y_eval.ndim > 1 else y_eval
    majority = np.bincount(labels.astype(int).reshape(-1)).argmax()
    return "accuracy", float(np.mean(evals.reshape(-1) == majority))


@timed
def dumb_baseline(model, train, evaluation) -> CheckResult:
    """The trained model must beat predicting the majority class (accuracy) or the
    training mean (MSE) on ``evaluation``."""
    x_train, y_train = as_arrays(train)
    x_eval, y_eval = as_arrays(evaluation)
    kind = loss_kind(model)
    metric, baseline = _majority_or_mean(y_train, y_eval, kind)
    pred = np.asarray(model.predict(x_eval, verbose=0))
    if kind == "regression":
        score = float(np.mean((y_eval.reshape(len(y_eval), -1) - pred) ** 2))
        passed = score < baseline
        what = "mean predictor"
    else:
        if kind == "binary":  # a logit above 0, or a probability above 0.5
            guess = (pred[:, 0] > (0.0 if resolve_loss(model).from_logits else 0.5)).astype(int)
        else:
            guess = pred.argmax(-1)
        labels = y_eval.argmax(-1) if y_eval.ndim > 1 else y_eval
        score = float(np.mean(guess == labels.reshape(-1)))
        passed = score > baseline
        what = "majority class"
    return CheckResult(
        "dumb_baseline",
        passed,
        score,
        baseline,
        f"{metric} {score:.4g} beats the {what} ({baseline:.4g})"
        if passed
        else f"{metric} {score:.4g} does not beat the {what} ({baseline:.4g}): the model "
        "learned nothing useful; go back to the checks above",
    )


@timed
def input_independent_baseline(
    build: Callable,
    train,
    val,
    *,
    steps: int = 300,
    batch_size: int = 32,
    margin: float = 0.1,
    little: float = 0.02,
) -> CheckResult:
    """The same model trained on zeroed inputs must end clearly worse on validation
    (by ``margin``, relative) than when trained on the real inputs, with the program's
    sample or class weights, read in the mode that shows the model at its best (both
    are read: inference mode is how validation sees it, but moving statistics lag after
    a short training; the gap is ``inference_mode``'s finding). Within ``little`` of the
    zeroed-input loss (or above it) in both modes, the model does not use its input: a
    fail; in between it uses its input but learned little in ``steps`` steps: a
    warning."""
    x, y, w = arrays(train)
    xv, yv, wv = arrays(val)
    scores: dict[str, dict[str, float]] = {}
    for name, (xt, xe) in {"real": (x, xv), "zeros": (np.zeros_like(x), np.zeros_like(xv))}.items():
        keras.utils.set_random_seed(7)
        model = build()
        init_output_bias(model, y)
        fit_steps(model, xt, y, steps, batch_size, seed=7, sample_weight=w)
        scores[name] = read_modes(model, xe, yv, wv)
    ratios = {m: scores["real"][m] / max(scores["zeros"][m], 1e-12) for m in scores["real"]}
    finite = {m: r for m, r in ratios.items() if math.isfinite(r)}
    mode = "inference"  # how validation reads it; training mode where clearly better
    if "training" in finite and finite["training"] < finite.get("inference", math.inf) - 0.02:
        mode = "training"
    real, zeros = scores["real"][mode], scores["zeros"][mode]
    where = f" (read in {mode} mode)" if mode == "training" else ""
    if real <= (1 - margin) * zeros:
        status = "pass"
        message = (
            f"validation loss {real:.4g} with real inputs against {zeros:.4g} with zeroed "
            f"inputs{where}"
        )
    elif real <= (1 - little) * zeros:
        status = "warn"
        message = (
            f"after {steps} steps the validation loss with real inputs ({real:.4g}) is only "
            f"{1 - real / zeros:.1%} below that with all inputs zeroed ({zeros:.4g}){where}: "
            "the model uses its input, but has learned little from it so far (a slow start: "
            "see loss_decreasing), or the inputs say little about the labels"
        )
    else:
        status = "fail"
        message = (
            f"validation loss with real inputs ({real:.4g}) is not below that with all inputs "
            f"zeroed ({zeros:.4g}), in training and inference mode alike: the model does not "
            "use its input. Look for preprocessing that zeroes or constant-fills the inputs, "
            "labels shuffled against the inputs, or an input that is not connected"
        )
    return CheckResult(
        "input_independent_baseline",
        status != "fail",
        real,
        f"<= {(1 - margin) * zeros:.4g}",
        message,
        details={"real": scores["real"], "zeros": scores["zeros"], "mode": mode},
        status=status,
    )


def _batch_normalizations(model) -> list:
    return [la for la in leaf_layers(model) if isinstance(la, keras.layers.BatchNormalization)]


@timed
def inference_mode(model, loss_decreasing_details: dict, *, gap: float = 1.5) -> CheckResult:
    """After ``loss_decreasing``'s short training, the loss on the training examples
    read in inference mode (what validation, ``evaluate`` and predictions see) must not
    be far above the loss read in training mode (``gap`` times): when it is, the model
    behaves differently once trained than while it trains (BatchNormalization's moving
    statistics lagging behind its weights, a layer whose ``training`` branch differs).
    A warning: it can settle with more training; the loss curves say which."""
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
        return CheckResult(
            "inference_mode", True, measured, f"<= {gap:g}",
            f"after {len(loss_decreasing_details.get('losses', []))} steps the training "
            f"examples' loss is {infer:.4g} in inference mode against {train:.4g} in training "
            f"mode: validation and predictions will look worse than training does. Cause: "
            f"{cause}", status="warn", details={"training": train, "inference": infer},
        )  # fmt: skip
    return CheckResult(
        "inference_mode", True, measured, f"<= {gap:g}",
        f"the loss in inference mode ({infer:.4g}) is in line with training mode ({train:.4g})",
        details={"training": train, "inference": infer},
    )  # fmt: skip
