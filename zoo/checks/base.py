"""What every check shares: the result (``CheckResult``: a status, the measured and
expected figures, a message a person can act on), the registry of checks by family
(``register``, ``CHECKS``), and the helpers the checks train and read models with
(``fit_steps``, ``snapshot``/``reusable``, ``read_modes``, one ``gradients`` and one
``input_gradient`` for every backend).

The rule every check is held to: **a FAIL needs evidence of harm measured on this
model and data**: the loss does not fall in the mode training uses, the model cannot
beat the input-independent baseline once weighted and read in the mode it will be
used, a NaN, labels or outputs that make the loss meaningless, a split that holds
classes training never sees. Whatever is only suspicious (a dead-unit fraction, an
unusual loss choice, the init scale, the learning rate's range, an input scale the
short trainings cope with) is a WARN. A check that could not run is an ``error``, said
as such, never a pass.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np

from zoo import interrupts
from zoo.checks.keras_private import learning_rate_schedule
from zoo.data import as_arrays
from zoo.outputs import data_loss, init_output_bias, resolve_loss

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
    caused_by: str | None = None  # the root cause's check, when this is its consequence
    location: dict | None = None  # {file, line, code}: where the user's code made the cause

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
            "caused_by": self.caused_by,
            "location": self.location,
        }

    def line(self) -> str:
        mark = {"pass": "pass", "warn": "warn", "fail": "FAIL", "error": "error"}[self.status]
        return f"[{mark}] {self.name}: {self.message}"

    @property
    def fix(self) -> dict:
        """The mechanical change that would remove this finding, where there is one
        (``{"activation": "sigmoid", "layer": ...}``, ``{"inputs": "standardize"}``,
        ``{"learning_rate": 1e-4}``, ...): the diagnosis tries it on a copy."""
        return self.details.get("fix") or {}



# name -> (family, function): every check of zoo/checks/, registered where it is written
CHECKS: dict[str, tuple[str, Callable]] = {}


def register(family: str) -> Callable:
    """Decorator: record a check function under its name and family (``setup``,
    ``init``, ``training``, ``independence``, ``layers``) and time it (``seconds``)."""

    def decorate(fn):
        timed_fn = timed(fn)
        CHECKS[fn.__name__] = (family, timed_fn)
        return timed_fn

    return decorate


# ---------------------------------------------------------------- helpers


def has_own_train_step(model) -> bool:
    """Whether the model's class writes its own ``train_step`` (the Keras guide's
    ``x, y = data``): such a model is stepped through ``fit``, which hands it its
    batches exactly as the program's ``fit`` does."""
    return type(model).train_step is not keras.Model.train_step


class _BatchLosses(keras.callbacks.Callback):
    """Each batch's loss, from the running mean ``fit`` logs; a safe point for Ctrl-C."""

    def __init__(self):
        super().__init__()
        self.losses: list[float] = []
        self.mean = 0.0

    def on_train_batch_end(self, batch, logs=None):
        mean = float((logs or {}).get("loss", math.nan))
        self.losses.append((batch + 1) * mean - batch * self.mean)
        self.mean = mean
        interrupts.check(" during the checks")
        if not math.isfinite(mean):
            self.model.stop_training = True


def train_batches(model, xs, ys, ws=None) -> list[float]:
    """One optimizer step on each batch of ``xs``/``ys`` (lists of arrays, weights
    ``ws``), in order; the losses. Keras' ``train_on_batch``, or for a model with its
    own ``train_step`` one ``fit`` over the batches."""
    if not has_own_train_step(model):
        losses = []
        ws = ws if ws is not None else itertools.repeat(None)
        for xb, yb, wb in zip(xs, ys, ws, strict=False):  # ws may repeat None
            interrupts.check(" during the checks")  # a safe point between steps
            out = model.train_on_batch(xb, yb, sample_weight=wb, return_dict=True)
            losses.append(float(out["loss"]))
            if not math.isfinite(losses[-1]):
                break  # diverged: the steps after say nothing more
        return losses
    xs, ys, ws = list(xs), list(ys), None if ws is None else list(ws)
    size = len(xs[0])
    if any(len(xb) != size for xb in xs):
        raise ValueError("batches of different sizes cannot go through one fit")
    record = _BatchLosses()
    weights = None if ws is None else np.concatenate(ws)
    model.fit(np.concatenate(xs), np.concatenate(ys), sample_weight=weights, batch_size=size,
              epochs=1, shuffle=False, verbose=0, callbacks=[record])  # fmt: skip
    return record.losses


def fit_steps(
    model, x, y, steps: int, batch_size: int, seed: int = 0, sample_weight=None
) -> list[float]:
    """``steps`` optimizer steps on shuffled mini-batches of ``(x, y)`` (weighted by
    ``sample_weight``, per row, as the program's ``fit`` weighs them); the losses."""
    rng = np.random.default_rng(seed)
    order, batches = np.array([], int), []
    batch_size = min(batch_size, len(x))
    for _ in range(steps):
        if len(order) < batch_size:
            order = np.concatenate([order, rng.permutation(len(x))])
        idx, order = order[:batch_size], order[batch_size:]
        batches.append(idx)
    ws = None if sample_weight is None else (sample_weight[i] for i in batches)
    return train_batches(model, (x[i] for i in batches), (y[i] for i in batches), ws)


def start_from_labels(model, y) -> None:
    """Set the output bias from the labels (the recipe's "init well") where one output
    layer's bias can say it: not for several outputs read side by side, or an output
    whose bias does not match the targets' width."""
    if getattr(model, "outputs_side_by_side", None):
        return
    try:
        init_output_bias(model, y)
    except ValueError:  # no bias to set, or one of another width than the targets
        pass


def error_line(err: BaseException, most: int = 300) -> str:
    """``"Type: reason"`` in one line: the line of the message that says what is wrong
    (TensorFlow's graph errors open with "Graph execution error" and end in a node
    name; the reason is the line that says what it received)."""
    lines = [line.strip() for line in str(err).strip().splitlines() if line.strip()]
    telling = next((line for line in lines if any(
        word in line for word in ("Received", "must", "Incompatible", "expected"))), None)
    text = telling or (lines[0] if lines else "")
    return f"{type(err).__name__}: {text[:most] + ('...' if len(text) > most else '')}"


def arrays(train, limit: int | None = None):
    """``(x, y, sample_weight)`` from the checks' data: ``(x, y)`` or ``(x, y, w)``
    arrays (``w`` None when the program weighs no row), at most ``limit`` rows."""
    x, y = as_arrays(train, limit=limit)
    w = None
    if isinstance(train, tuple | list) and len(train) == 3 and train[2] is not None:
        w = np.asarray(train[2], "float64")[: len(x)]
    return x, y, w


# the short trainings whose failure shows that a setup finding does harm
HARM = ("overfit_one_batch", "loss_decreasing", "input_independent_baseline")


def feature_axes(x: np.ndarray) -> tuple[int, ...]:
    """The axes a per-feature statistic is taken over: every axis but the last (per
    feature, or per channel of an image); the rows of a one-dimensional input."""
    return tuple(range(max(x.ndim - 1, 1)))


def standardized(x: np.ndarray, *others: np.ndarray) -> list[np.ndarray]:
    """``x`` and ``others`` standardized with ``x``'s mean and spread per feature."""
    axes = feature_axes(x)
    mean, std = x.mean(axis=axes, keepdims=True), x.std(axis=axes, keepdims=True)
    std = np.where(std > 0, std, 1.0)
    return [((a - mean) / std).astype("float32") for a in (x, *others)]


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


# the learning rates Keras starts each optimizer at: what a fix trial tries when the
# program's rate is far off (AUTOTRAINER's repair does the same)
USUAL_RATES = {"SGD": 0.01, "Adam": 1e-3, "AdamW": 1e-3, "Nadam": 1e-3, "Adamax": 1e-3,
               "RMSprop": 1e-3, "Adagrad": 1e-3, "Adadelta": 1e-3, "Lion": 1e-4}  # fmt: skip


def rate_fix(optimizer, lower: bool) -> dict:
    """The learning-rate fix a trial tries: the optimizer's usual rate where the
    program's is beyond it, else ten times lower (``lower``) or higher; ``{}`` for a
    schedule (a schedule's own finding says what to change)."""
    schedule = learning_rate_schedule(optimizer)
    if isinstance(schedule, keras.optimizers.schedules.LearningRateSchedule):
        return {}
    rate = float(keras.ops.convert_to_numpy(optimizer.learning_rate))
    usual = USUAL_RATES.get(type(optimizer).__name__, rate)
    if (lower and rate > usual) or (not lower and rate < usual / 10):
        return {"learning_rate": usual}
    return {"learning_rate": rate / 10 if lower else rate * 10}


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



def read_modes(model, x, y, w=None) -> dict[str, float]:
    """The data loss on ``(x, y)`` in both modes: ``training`` (what ``fit`` trains:
    batch statistics, dropout on) and ``inference`` (what validation and predictions
    see: moving statistics)."""
    return {
        "training": data_loss(model, x, y, sample_weight=w, training=True),
        "inference": data_loss(model, x, y, sample_weight=w, training=False),
    }


def relative_drop(first: float, last: float) -> float:
    return (first - last) / max(abs(first), 1e-12)


def still_falling(losses: list[float], fraction: float = 0.1) -> bool:
    """Whether the last third of a loss curve still fell by ``fraction`` (relative): a
    slow start, not a loss that cannot move."""
    tail = losses[-max(2, len(losses) // 3) :]
    if len(tail) < 2 or not all(math.isfinite(v) for v in tail):
        return False
    return (tail[0] - tail[-1]) > fraction * max(abs(tail[0]), 1e-12)


def gradients(model, x, y) -> list[np.ndarray | None]:
    """The gradient of the compiled loss (without regularization) on ``(x, y)``, in
    training mode, for each of ``model.trainable_weights`` (None where the loss does not
    depend on it)."""
    fn = resolve_loss(model).fn
    weights = model.trainable_weights
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            loss = keras.ops.mean(fn(y, model(x, training=True)))
        grads = tape.gradient(loss, weights)
        return [None if g is None else keras.ops.convert_to_numpy(tf.convert_to_tensor(g))
                for g in grads]  # fmt: skip
    if backend == "jax":
        import jax

        trainable = [v.value for v in model.trainable_variables]
        frozen = [v.value for v in model.non_trainable_variables]

        def loss(values):
            out, _ = model.stateless_call(values, frozen, x, training=True)
            return keras.ops.mean(fn(y, out))

        return [np.asarray(g) for g in jax.grad(loss)(trainable)]
    if backend == "torch":
        model.zero_grad()
        keras.ops.mean(fn(y, model(x, training=True))).backward()
        return [None if w.value.grad is None else w.value.grad.detach().cpu().numpy()
                for w in weights]  # fmt: skip
    raise NotImplementedError(f"per-layer gradients on the {backend} backend")



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


