"""Callbacks and learning-rate schedules.

Keras has most pieces; ``standard`` wires them the way the recipe advises (early
stopping on validation loss with the best weights restored, a best-model checkpoint,
resumable training, a CSV history, TensorBoard, a stop on NaN) and adds what Keras
lacks: the learning rate in the logs, ``PredictionDynamics`` (predictions on one fixed
batch, epoch by epoch) and ``DeadUnitMonitor`` (ReLU units that never fire).

Schedules by name (``learning_rate``): ``constant`` (the default, as the recipe says),
``step`` (piecewise: x0.1 at 50% and again at 75% of the steps), ``exponential`` (to 1%
of the start by the end), ``cosine`` (linear warm-up, then cosine decay to 0) and
``plateau`` (constant, cut by ``ReduceLROnPlateau`` when validation loss stalls).
``check_schedule`` warns when a schedule would drive the rate below 1% of its start
before half the planned steps: "secretly driving your learning rate to zero".
"""

from __future__ import annotations

import csv
import os
import sys
import time
import warnings
from pathlib import Path

import keras
import numpy as np

from zoo import interrupts
from zoo.config import DEFAULTS
from zoo.models import leaf_layers
from zoo.plots import dead_units, prediction_dynamics
from zoo.runfolder import save_model

SCHEDULES = ("constant", "step", "exponential", "cosine", "plateau")


def learning_rate(
    name: str = "constant",
    initial: float = DEFAULTS.learning_rate,
    total_steps: int | None = None,
    *,
    warmup_steps: int | None = None,
):
    """A float (``constant``, ``plateau``) or a Keras ``LearningRateSchedule`` over
    ``total_steps`` optimizer steps (epochs x steps per epoch)."""
    schedules = keras.optimizers.schedules
    if name not in SCHEDULES:
        raise ValueError(f"schedule={name!r} is not one of {', '.join(SCHEDULES)}.")
    if not initial > 0:
        raise ValueError(f"learning rate {initial!r} must be positive.")
    if name in ("constant", "plateau"):
        return float(initial)
    if not total_steps or total_steps < 2:
        raise ValueError(f"schedule {name!r} needs total_steps >= 2 (got {total_steps!r}).")
    if name == "step":
        bounds = [int(total_steps * 0.5), int(total_steps * 0.75)]
        return schedules.PiecewiseConstantDecay(bounds, [initial, initial * 0.1, initial * 0.01])
    if name == "exponential":
        return schedules.ExponentialDecay(initial, decay_steps=total_steps, decay_rate=0.01)
    warmup = int(total_steps * 0.05) if warmup_steps is None else int(warmup_steps)
    return schedules.CosineDecay(
        initial_learning_rate=0.0 if warmup else initial,
        decay_steps=max(1, total_steps - warmup),
        warmup_target=initial if warmup else None,
        warmup_steps=warmup,
    )


def rate_at(schedule, step: int) -> float:
    """The learning rate a float or schedule gives at optimizer step ``step``."""
    if isinstance(schedule, int | float):
        return float(schedule)
    return float(keras.ops.convert_to_numpy(schedule(step)))


def check_schedule(schedule, total_steps: int, *, warn: bool = True) -> str | None:
    """A message if ``schedule`` falls below 1% of its peak before half of
    ``total_steps``; None when it does not. Warns too, unless ``warn=False``."""
    if not isinstance(schedule, keras.optimizers.schedules.LearningRateSchedule):
        return None  # a constant rate (a float or a variable)
    if total_steps < 2:
        return None
    half = max(1, total_steps // 2)
    steps = np.unique(np.linspace(0, half - 1, num=min(half, 200)).astype(int))
    rates = np.array([rate_at(schedule, int(s)) for s in steps])
    peak = rates.max()
    low = np.flatnonzero((rates < 0.01 * peak) & (steps > np.argmax(rates)))
    if not len(low):
        return None
    step = int(steps[low[0]])
    message = (
        f"the learning rate falls below 1% of its peak ({peak:.3g}) at step {step}, before "
        f"half of the {total_steps} planned steps: the rest of training barely moves the "
        "weights. Lengthen the decay, or use a constant rate (the recipe's default)."
    )
    if warn:
        warnings.warn(message, stacklevel=2)
    return message


class StopOnSignal(keras.callbacks.Callback):
    """Stops training at the next batch end after Ctrl-C or SIGTERM
    (``zoo.interrupts``): what the epoch-end writers (checkpoint, backup, history)
    wrote stays whole, and the backup holds the last finished epoch to resume from."""

    def on_train_begin(self, logs=None):
        interrupts.state.in_fit = interrupts.state.active
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        # first in the list: a batch end, never between the epoch-end writers
        interrupts.check(f" in epoch {self._epoch + 1}")

    def on_train_end(self, logs=None):
        interrupts.state.in_fit = False


class LearningRateLogger(keras.callbacks.Callback):
    """Adds ``learning_rate`` to the epoch logs (so CSV and TensorBoard show it); put it
    before the loggers."""

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        # For a schedule, Keras evaluates it at the optimizer's current step.
        lr = self.model.optimizer.learning_rate
        logs["learning_rate"] = float(keras.ops.convert_to_numpy(lr))


class PredictionDynamics(keras.callbacks.Callback):
    """Predictions on one fixed batch after every epoch, to see how they move: for
    classification the probability of the true class, for regression the prediction.
    ``history`` is ``(epochs + 1, examples)``, row 0 before training. With ``path``,
    the plot is written when training ends."""

    def __init__(self, x, y, *, path: str | os.PathLike | None = None, task: str | None = None):
        super().__init__()
        self.x, self.y = np.asarray(x), np.asarray(y)
        self.path = Path(path) if path else None
        self.task = task
        self.history: list[np.ndarray] = []

    def _predict(self) -> np.ndarray:
        out = keras.ops.convert_to_numpy(self.model(self.x, training=False)).astype("float64")
        if self.task is None:  # one output without a binary label: a regression
            binary = set(np.unique(self.y).tolist()) <= {0, 1}
            self.task = "classification" if out.shape[-1] > 1 or binary else "regression"
        if self.task == "regression":
            return out.reshape(len(out))
        if out.shape[-1] == 1:  # one logit: binary
            p = 1 / (1 + np.exp(-out[:, 0]))
            return np.where(self.y.reshape(-1) == 1, p, 1 - p)
        out = out - out.max(axis=-1, keepdims=True)
        probs = np.exp(out) / np.exp(out).sum(axis=-1, keepdims=True)
        return probs[np.arange(len(probs)), self.y.reshape(-1).astype(int)]

    def on_train_begin(self, logs=None):
        self.history = [self._predict()]

    def on_epoch_end(self, epoch, logs=None):
        self.history.append(self._predict())

    def on_train_end(self, logs=None):
        if self.path is not None:
            regression = (self.task or "") == "regression"
            prediction_dynamics(
                np.array(self.history), self.path, targets=self.y if regression else None
            )


def _has_input(model) -> bool:
    try:
        return model.input is not None
    except (AttributeError, ValueError):
        return False


class DeadUnitMonitor(keras.callbacks.Callback):
    """Per ReLU layer, the fraction of units (channels) that output zero for every
    example of a fixed batch: dead units no longer learn. ``fractions`` holds the last
    measurement; ``logs["dead_units"]`` the largest fraction of any layer."""

    def __init__(self, x, *, path: str | os.PathLike | None = None, every: int = 1):
        super().__init__()
        self.x = np.asarray(x)
        self.path = Path(path) if path else None
        self.every = max(1, int(every))
        self.fractions: dict[str, float] = {}
        self._probe = None

    @staticmethod
    def relu_layers(model) -> list:
        """Layers whose output passes through a ReLU (Activation/ReLU layers, and
        Dense/Conv layers built with ``activation="relu"``)."""
        found = []
        for layer in leaf_layers(model):
            activation = getattr(layer, "activation", None)
            name = getattr(activation, "__name__", "")
            if isinstance(layer, keras.layers.ReLU) or name == "relu":
                found.append(layer)
        return found

    def measure(self, model=None) -> dict[str, float]:
        model = model or self.model
        layers = self.relu_layers(model)
        if not layers:
            self.fractions = {}
            return {}
        if isinstance(model, keras.Sequential) and not _has_input(model):
            # a Sequential given no Input has no graph to cut (model.input is undefined,
            # even after fit): its layers are called in turn on the batch instead
            h, seen = self.x, {}
            for layer in model.layers:
                h = seen[id(layer)] = layer(h, training=False)
            layers = [layer for layer in layers if id(layer) in seen]
            outputs = [seen[id(layer)] for layer in layers]
        else:
            if self._probe is None:
                self._probe = keras.Model(model.input, [layer.output for layer in layers])
            outputs = self._probe(self.x, training=False)
            outputs = outputs if isinstance(outputs, list | tuple) else [outputs]
        fractions = {}
        for layer, out in zip(layers, outputs, strict=True):
            out = keras.ops.convert_to_numpy(out)
            fired = (out > 0).reshape(-1, out.shape[-1]).any(axis=0)
            fractions[layer.name] = float(1.0 - fired.mean())
        self.fractions = fractions
        return fractions

    def on_epoch_end(self, epoch, logs=None):
        measured = (epoch + 1) % self.every == 0 or not self.fractions
        fractions = self.measure() if measured else self.fractions
        if logs is not None and fractions:  # every epoch, so the curve's epochs are right
            logs["dead_units"] = max(fractions.values()) if measured else float("nan")

    def on_train_end(self, logs=None):
        fractions = self.measure()
        if self.path is not None and fractions:
            dead_units(fractions, self.path)


class BestModel(keras.callbacks.Callback):
    """``path`` written whenever ``monitor`` (lower is better) improves on the best so
    far: ``keras.callbacks.ModelCheckpoint(save_best_only=True)`` with the writing
    given to ``save(model, path)`` (zoo's: the network packaged with its preprocessing,
    ``zoo.packaged.save_packaged``, through a temporary file renamed into place);
    ``model.save`` when ``save`` is None. ``history``: a run's ``history.csv``, where a
    resumed run finds the best before the interruption."""

    def __init__(self, path, monitor: str = "val_loss", save=None, history=None):
        super().__init__()
        self.path, self.monitor = Path(path), monitor
        self.save = save or save_model
        self.history = Path(history) if history else None
        self.best, self._warned = np.inf, False

    def on_train_begin(self, logs=None):
        # resumed: the best so far is in history.csv, cut back to the backup's epoch
        if self.history is not None and self.history.is_file() and self.path.is_file():
            with open(self.history, newline="") as f:
                logged = [row.get(self.monitor) for row in csv.DictReader(f)]
            self.best = min([float(v) for v in logged if v not in (None, "", "nan")] or [np.inf])

    def on_epoch_end(self, epoch, logs=None):
        current = (logs or {}).get(self.monitor)
        if current is None:
            if self._warned:
                return
            self._warned = True
            warnings.warn(
                f"best.keras is saved when {self.monitor} improves, and the logs have no "
                f"{self.monitor} (they have {sorted(logs or {})}): nothing saved.",
                stacklevel=2,
            )
            return
        if float(current) < self.best:
            self.best = float(current)
            self.save(self.model, self.path)


class TimeBudget(keras.callbacks.Callback):
    """Training inside a deadline, with a progress bar over the planned epochs.

    ``epochs`` is the plan (measured before training, ``zoo.plan``); ``deadline`` a
    ``time.perf_counter()`` value (None: none). After every epoch the plan is made
    again from the epochs measured so far (the first, which traces and fills caches,
    left out once there are others, with a 5% margin): as many epochs as fit before
    the deadline, at most ``most``. A cosine schedule (Keras' ``CosineDecay``) is
    stretched or shortened to end at the new last epoch (its ``decay_steps``, the
    training step traced again), so that the rate reaches zero when time is up rather
    than being cut at a high value. Training stops at the planned epoch; the best
    weights are still restored. A bar (on a terminal; a line per epoch in a log) shows
    the epochs done, the time left and the loss figures; ``show`` False keeps both off.
    ``stopped_early`` says whether the deadline cut the run short of ``most``. The logs
    gain ``seconds``: the training time so far in this session (in ``history.csv``)."""

    SHOWN = ("loss", "accuracy", "val_loss", "val_accuracy", "mae", "val_mae")
    MARGIN = 1.05

    def __init__(
        self,
        epochs: int,
        deadline: float | None = None,
        *,
        show: bool = True,
        most: int | None = None,
        steps_per_epoch: int | None = None,
    ):
        super().__init__()
        self.epochs, self.deadline, self.show = epochs, deadline, show
        self.most = most or epochs
        self.steps_per_epoch = steps_per_epoch
        self.times: list[float] = []
        self.plans: list[int] = [epochs]  # every plan made, the first before training
        self.stopped_early = False
        self._bar, self._ended = None, False

    def on_train_begin(self, logs=None):
        if self.show and sys.stdout.isatty():  # a log file gets a line per epoch
            self._bar = keras.utils.Progbar(
                self.epochs, stateful_metrics=self.SHOWN, unit_name="epoch"
            )

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_train_end(self, logs=None):
        # Stopped before the planned epochs (early stopping, a signal): the bar's line
        # is ended here, so what is printed next starts a line of its own.
        if self._bar is not None and not self._ended:
            sys.stdout.write("\n")
            sys.stdout.flush()

    def epoch_seconds(self) -> float:
        times = self.times[1:] or self.times
        return self.MARGIN * sum(times) / len(times)

    def seconds_left(self) -> float:
        """The planned epochs still to run times an epoch's estimated time."""
        return max(0, self.epochs - len(self.times)) * self.epoch_seconds()

    def replan(self, now: float) -> None:
        """As many epochs as fit before the deadline, the schedule stretched to them."""
        done = len(self.times)
        fit = done + int(max(0.0, self.deadline - now) // self.epoch_seconds())
        fit = min(fit, self.most)
        if fit == self.epochs:
            return
        self.epochs = max(fit, done)
        self.plans.append(self.epochs)
        if self._bar is not None:
            self._bar.target = self.epochs
        if self.epochs > done:
            self._stretch_schedule()

    def _stretch_schedule(self) -> None:
        schedule = getattr(self.model.optimizer, "_learning_rate", None)
        if not self.steps_per_epoch or not isinstance(
            schedule, keras.optimizers.schedules.CosineDecay
        ):
            return
        total = self.epochs * self.steps_per_epoch
        schedule.decay_steps = max(1, total - int(schedule.warmup_steps or 0))
        self.model.make_train_function(force=True)  # the schedule is read when traced

    def on_epoch_end(self, epoch, logs=None):
        now = time.perf_counter()
        self.times.append(now - self._start)
        done = len(self.times)
        if logs is not None:  # into history.csv: seconds of training in this session
            logs["seconds"] = round(sum(self.times), 2)
        if self.deadline is not None:
            self.replan(now)
        shown = [(k, float(v)) for k, v in (logs or {}).items() if k in self.SHOWN]
        if self._bar is not None:
            self._bar.update(min(done, self.epochs), values=shown, finalize=done >= self.epochs)
            self._ended = done >= self.epochs
        elif self.show:
            figures = " - ".join(f"{k}: {v:.4f}" for k, v in shown)
            left = "about" if self.deadline is not None else "at most"  # early stopping
            print(
                f"epoch {epoch + 1}/{self.epochs}: {self.times[-1]:.0f}s, {left} "
                f"{self.seconds_left():.0f}s left - {figures}",
                flush=True,
            )
        if done >= self.epochs and done < self.most and self.deadline is not None:
            self.model.stop_training = True
            self.stopped_early = True
            if self.show:
                print(
                    f"{done} epochs fit the time budget (planned {self.plans[0]} before "
                    f"training, {self.epochs} from the epochs measured)",
                    flush=True,
                )


def standard(
    run_dir: str | os.PathLike,
    *,
    monitor: str = "val_loss",
    patience: int = 10,
    min_delta: float = 1e-4,
    schedule: str = "constant",
    tensorboard: bool = True,
    backup: bool = True,
    extra: list | None = None,
    save=None,
) -> list:
    """The default callbacks, writing into ``run_dir``: learning-rate logging,
    ``TerminateOnNaN``, ``EarlyStopping`` (best weights restored), ``best.keras``
    (``BestModel``, written by ``save(model, path)`` when given),
    ``BackupAndRestore`` in ``backup/`` (start the same run folder again and a killed
    run resumes from its last finished epoch; the folder is removed when training
    completes), ``history.csv`` (appended across resumes), and ``tensorboard/``. With
    ``schedule="plateau"``, also ``ReduceLROnPlateau``. ``extra`` callbacks go before
    the loggers, so what they add to the logs is recorded."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    cbs = [StopOnSignal(), LearningRateLogger(), keras.callbacks.TerminateOnNaN()]
    if schedule == "plateau":
        cbs.append(
            keras.callbacks.ReduceLROnPlateau(
                monitor=monitor, factor=0.2, patience=max(1, patience // 3), min_lr=1e-7
            )
        )
    cbs += list(extra or [])
    cbs.append(
        keras.callbacks.EarlyStopping(
            monitor=monitor, patience=patience, min_delta=min_delta, restore_best_weights=True
        )
    )
    cbs.append(
        BestModel(
            run_dir / "best.keras", monitor=monitor, save=save, history=run_dir / "history.csv"
        )
    )
    if backup:
        # double_checkpoint: the previous epoch's copy is kept, to resume from if the
        # latest is cut short (zoo.runfolder.hold checks both)
        cbs.append(
            keras.callbacks.BackupAndRestore(str(run_dir / "backup"), double_checkpoint=True)
        )
    cbs.append(keras.callbacks.CSVLogger(str(run_dir / "history.csv"), append=True))
    if tensorboard:
        cbs.append(keras.callbacks.TensorBoard(str(run_dir / "tensorboard"), write_graph=False))
    return cbs
