"""What the checks watch while the program trains (``TrainingMonitor``, a callback):
a loss that turns NaN or infinite stops training at once, with the first layer whose
output (or weights) went non-finite named; at the end, the epochs' losses are read for
no progress, overfitting (the epoch it began) and a loss still falling steeply when the
epochs ran out. Each finding is a ``CheckResult`` in ``results``."""

from __future__ import annotations

import math

import keras
import numpy as np

from zoo.checks.base import CheckResult
from zoo.checks.layers import layer_outputs
from zoo.models import leaf_layers


def first_non_finite(model, x) -> str:
    """Words naming the first layer (in the model's order) whose weights or whose
    output on ``x`` (if given) hold a NaN or an infinity; empty if none does."""
    chosen = list(leaf_layers(model))
    for layer in chosen:
        for w in layer.weights:
            if not np.isfinite(keras.ops.convert_to_numpy(w)).all():
                return f"layer {layer.name!r} (its weight {w.path.rsplit('/', 1)[-1]})"
    if x is None:
        return ""
    try:
        outs = layer_outputs(model, x, chosen)
    except Exception:  # noqa: BLE001 - a model whose layers cannot be read one by one
        return ""
    for layer in chosen:
        out = outs.get(layer.name)
        if out is not None and not np.isfinite(out).all():
            return f"layer {layer.name!r} (its output)"
    return ""


def read_epochs(loss: list[float], val_loss: list[float] | None = None) -> list[CheckResult]:
    """Verdicts on the losses of a finished training, one per epoch: no progress
    (``training_progress``: fail), overfitting (``overfitting``: warn, with the epoch it
    began) and still falling steeply at the end (``train_longer``: warn)."""
    results = []
    n = len(loss)
    if n < 3 or not all(math.isfinite(v) for v in loss):
        return results
    drop = (loss[0] - loss[-1]) / max(abs(loss[0]), 1e-12)
    if drop < 0.01:
        results.append(CheckResult(
            "training_progress", False, loss[-1], f"< {loss[0]:.4g}",
            f"the training loss did not fall over {n} epochs ({loss[0]:.4g} -> {loss[-1]:.4g}): "
            "nothing is being learned; go back to the checks before training"))  # fmt: skip
    else:
        results.append(CheckResult(
            "training_progress", True, loss[-1], f"< {loss[0]:.4g}",
            f"the training loss fell {drop:.0%} over {n} epochs"))  # fmt: skip
    if val_loss and len(val_loss) == n and all(math.isfinite(v) for v in val_loss):
        best = int(np.argmin(val_loss))
        rose = val_loss[-1] > 1.1 * val_loss[best] and val_loss[-1] - val_loss[best] > 1e-3
        if best < n - 1 and rose and loss[-1] < loss[best]:
            results.append(CheckResult(
                "overfitting", True, val_loss[-1], val_loss[best],
                f"overfitting from epoch {best + 2}: the validation loss was lowest at epoch "
                f"{best + 1} ({val_loss[best]:.4g}) and rose to {val_loss[-1]:.4g} while the "
                "training loss kept falling. Keep the best epoch "
                "(EarlyStopping(restore_best_weights=True)), add regularization or data",
                status="warn"))  # fmt: skip
    tail = max(2, n // 5)
    recent = (loss[-tail - 1] - loss[-1]) / max(abs(loss[-tail - 1]), 1e-12)
    val_falling = not val_loss or len(val_loss) != n or val_loss[-1] < min(val_loss[:-1])
    if recent > 0.1 and val_falling:
        results.append(CheckResult(
            "train_longer", True, recent, "< 10%",
            f"the loss was still falling steeply when the epochs ran out ({recent:.0%} over "
            f"the last {tail} epochs{'' if not val_loss else ', validation too'}): train "
            "longer (more epochs, with EarlyStopping to stop when it levels off)",
            status="warn"))  # fmt: skip
    return results


class TrainingMonitor(keras.callbacks.Callback):
    """Watches the program's own training. A NaN or infinite loss stops it at that
    batch (``training_finite`` fails, naming the first layer gone non-finite on
    ``x``); at the end the epochs are read (``read_epochs``). ``results`` holds the
    verdicts; ``say`` (if given) is called with each as it comes."""

    def __init__(self, x=None, *, say=None):
        super().__init__()
        self.x = None if x is None else np.asarray(x)[:64]
        self.say = say
        self.results: list[CheckResult] = []
        self.loss: list[float] = []
        self.val_loss: list[float] = []
        self.epoch = 0

    def _add(self, result: CheckResult) -> None:
        self.results.append(result)
        if self.say:
            self.say(result)

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is None or math.isfinite(float(loss)):
            return
        where = first_non_finite(self.model, self.x)
        self.model.stop_training = True
        self._add(CheckResult(
            "training_finite", False, float(loss), "finite",
            f"the loss became {float(loss)} at epoch {self.epoch + 1}, batch {batch + 1}; "
            + (f"the first to go non-finite is {where}. " if where else "")
            + "Training was stopped. Lower the learning rate, scale the inputs, clip "
            "gradients (clipnorm=1.0), or look for a log or division of zero in a custom "
            "loss or layer"))  # fmt: skip

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if "loss" in logs:
            self.loss.append(float(logs["loss"]))
        if "val_loss" in logs:
            self.val_loss.append(float(logs["val_loss"]))

    def on_train_end(self, logs=None):
        if any(r.name == "training_finite" for r in self.results):
            return
        for result in read_epochs(self.loss, self.val_loss or None):
            self._add(result)
