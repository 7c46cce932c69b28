"""The recipe's checks on a model someone else wrote: ``zoo.check(model, x, y, ...)``
takes a compiled Keras model and the arguments its ``fit`` would get, and runs the
checks with the program's own loss, optimizer, learning rate and batch size on fresh
copies of the model. The model is left exactly as it was: Sequential and Functional
models are cloned; a subclassed model's weights are snapshotted and restored, and it is
compiled again with its own optimizer object at the end.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import keras
import numpy as np

from zoo.callbacks import DeadUnitMonitor, PredictionDynamics
from zoo.checks.base import has_own_train_step, train_batches
from zoo.checks.keras_private import compiled_arguments, drop_compiled_metrics
from zoo.checks.monitor import TrainingMonitor
from zoo.checks.runner import ALL_CHECKS, ChecksReport, run_checks
from zoo.checks.structures import OutputsSideBySide, SideBySide
from zoo.data import as_arrays
from zoo.models import leaf_layers

LIMIT = 4096  # examples the checks read at most


def training_data(x, y=None, limit: int = LIMIT) -> tuple[np.ndarray, np.ndarray]:
    """``(x, y)`` arrays, at most ``limit`` examples, from what ``fit`` takes: arrays
    (a random sample of rows when there are more),
    a ``tf.data.Dataset``, a ``keras.utils.PyDataset`` (read by index: its own
    iteration is left alone). A Python generator cannot be read without consuming it:
    ``ValueError`` (``zoo check`` on a script takes its first batches and hands the
    rest back to the script)."""
    if y is not None:
        if len(x) > limit:  # a sample of every part: rows are often sorted by label
            rows = np.sort(np.random.default_rng(0).choice(len(x), limit, replace=False))
            x, y = np.asarray(x)[rows], np.asarray(y)[rows]
        return as_arrays((x, y), limit=limit)
    if isinstance(x, keras.utils.PyDataset):
        batches, n = [], 0
        for i in range(len(x)):
            batches.append(x[i])
            n += len(batches[-1][0])
            if n >= limit:
                break
        return as_arrays(iter(batches), limit=limit)
    if hasattr(x, "__next__"):
        raise ValueError(
            "x is a Python generator: reading it here would consume the batches the "
            "program trains on. Pass arrays or a tf.data.Dataset, or run `zoo check "
            "script.py`, which hands the batches it reads back to the program."
        )
    if isinstance(x, dict):
        raise ValueError("x is a dict of several inputs: these checks read one input.")
    return as_arrays(x, limit=limit)


def _fresh_optimizer(optimizer):
    return optimizer.__class__.from_config(optimizer.get_config())


def _finalize(model) -> None:
    """Let preprocessing layers recompute what they derive from their weights: an
    adapted ``Normalization`` given its mean and variance by ``set_weights`` keeps
    normalizing with the defaults (0 and 1) until ``finalize_state``."""
    for layer in leaf_layers(model):
        finalize = getattr(layer, "finalize_state", None)
        if finalize is not None and layer.weights:
            finalize()


def _compiled_enough(model) -> None:
    """``ValueError`` saying why nothing can be checked when the model has no optimizer
    or no compiled loss."""
    if model.optimizer is None:
        raise ValueError("the model is not compiled: call model.compile(optimizer, loss) first.")
    if model.loss is None:
        raise ValueError(
            "the model is compiled without a loss"
            + (" (its own train_step computes one, as a VAE's does)" if has_own_train_step(model)
               else "")
            + ": every check reads the compiled loss, so none can run here. The script is "
            "not wrong for that; compile with loss=... to have it checked."
        )  # fmt: skip


def _same_outputs(model, copy, x) -> bool:
    """Whether a copy of the model gives the model's outputs on a few rows: a copy
    loses what lives outside the weights (an adapted TextVectorization's or
    StringLookup's vocabulary, a Normalization's adapted statistics on some paths)."""
    try:
        a = keras.ops.convert_to_numpy(model(x, training=False))
        b = keras.ops.convert_to_numpy(copy(x, training=False))
    except Exception:  # noqa: BLE001 - a copy that cannot even run is not the same
        return False
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=1e-4, atol=1e-5))


def _builder(
    model, side_by_side=None, probe=None, loss=None
) -> tuple[Callable, Callable[[], None]]:
    """A zero-argument callable returning the model as the program built it, compiled
    with its loss (or ``loss``) and a fresh copy of its optimizer (wrapped by
    ``side_by_side`` for several inputs or outputs); and the function that leaves the
    user's model as it was."""
    _compiled_enough(model)
    optimizer, own_loss = model.optimizer, model.loss
    loss = loss or own_loss
    side = side_by_side or (lambda m: m)
    weights = [np.array(w) for w in model.get_weights()]
    # every variable, random-seed states included (Dropout's are not among the
    # weights): a subclassed model is reused, and two builds must start alike
    state = [(v, np.array(keras.ops.convert_to_numpy(v))) for v in model.variables]
    try:
        copy = keras.models.clone_model(model)
        copy.set_weights(weights)
        _finalize(copy)
        # a copy that does not compute what the model computes: check the model itself
        subclassed = probe is not None and not _same_outputs(model, copy, probe)
    except Exception:  # noqa: BLE001 - subclassed models cannot be cloned
        subclassed = True

    if not subclassed:

        def build():
            copy = keras.models.clone_model(model)
            copy.set_weights(weights)
            _finalize(copy)
            copy = side(copy)
            copy.compile(optimizer=_fresh_optimizer(optimizer), loss=loss)
            drop_compiled_metrics(copy)  # a clone keeps the program's otherwise
            return copy

        return build, lambda: None

    compile_args = compiled_arguments(model)

    def put_back():
        for variable, value in state:
            variable.assign(value)

    def build():
        put_back()
        built = side(model)
        built.compile(optimizer=_fresh_optimizer(optimizer), loss=loss)
        drop_compiled_metrics(built)
        return built

    def restore():
        put_back()
        model.compile(**{**compile_args, "optimizer": optimizer, "loss": own_loss})

    return build, restore


def first_step(model, x, y=None, sample_weight=None, batch_size=None) -> None:
    """One training step of a copy of the model as the program compiled it (its loss
    and metrics) on the first batch ``fit`` would take: Keras' own error, raised, where
    the program's training would fail at its first step (a metric that refuses the
    labels' shape). Arrays and ``tf.data`` datasets; a model that cannot be copied, or
    other data, is not stepped."""
    try:
        copy = keras.models.clone_model(model)
        copy.set_weights(model.get_weights())
    except Exception:  # noqa: BLE001 - subclassed: the checks themselves will tell
        return
    if not getattr(copy, "compiled", False):
        copy.compile(optimizer=_fresh_optimizer(model.optimizer), loss=model.loss)
    copy.optimizer = _fresh_optimizer(model.optimizer)
    if hasattr(x, "take") and y is None:  # a tf.data dataset: its first batch
        batch = next(iter(x.take(1)))
        if not isinstance(batch, tuple) or len(batch) < 2:
            return
        x, y = batch[0], batch[1]
        sample_weight = batch[2] if len(batch) > 2 else None
    elif y is None or hasattr(x, "__next__") or isinstance(x, keras.utils.PyDataset):
        return
    n = int(batch_size or 32)

    def first(value):  # the first rows of an array, or of each array of a list or dict
        return keras.tree.map_structure(lambda a: np.asarray(a)[:n], value)

    weights = None if sample_weight is None else [first(sample_weight)]
    train_batches(copy, [first(x)], [first(y)], weights)  # a train_step of its own too


def row_weights(y: np.ndarray, sample_weight=None, class_weight: dict | None = None):
    """Per-row weights as Keras' ``fit`` applies them: ``sample_weight`` times the
    ``class_weight`` of each row's class (the argmax of a one-hot row, the rounded value
    of a single column); None when neither is given."""
    if sample_weight is None and not class_weight:
        return None
    y = np.asarray(y)
    w = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, "float64")
    w = w.reshape(len(y), -1).mean(axis=1) if w.ndim > 1 else w
    if class_weight:
        one_hot = y.ndim > 1 and y.shape[-1] > 1
        ids = y.argmax(-1) if one_hot else np.round(y.reshape(len(y), -1)[:, 0])
        w = w * np.array([float(class_weight.get(int(c), 1.0)) for c in ids])
    return w


def check(
    model,
    x=None,
    y=None,
    *,
    validation_data=None,
    validation_split: float = 0.0,
    batch_size: int | None = None,
    epochs: int | None = None,
    sample_weight=None,
    class_weight: dict | None = None,
    checks: tuple[str, ...] = ALL_CHECKS,
    progress: Callable | None = None,
    budget: float | None = 60.0,
    fix_trials: bool = True,
) -> ChecksReport:
    """Run the recipe's checks on ``model`` (compiled) with the data and settings its
    ``fit`` would get (``sample_weight`` and ``class_weight`` too: every short training
    and loss of the checks is weighted as ``fit`` weighs it); returns the report
    (``report.passed``: no check failed; ``report.failed``, ``report.warned``,
    ``report.errored``, ``report.results``). ``budget``: seconds the checks may spend,
    their batch and steps sized from a measured step (None: no limit). ``report.roots``
    is the diagnosis (root causes first); ``fix_trials`` tries each root cause's
    mechanical fix on a copy. The model is not changed."""
    _compiled_enough(model)
    outputs = len(getattr(model, "outputs", None) or []) or 1
    several = None
    if isinstance(x, dict) or isinstance(x, list | tuple) and len(x) > 1:
        several = SideBySide(x)  # several inputs: carried as one array, cut in the model
        x = several.flatten(x)
        if isinstance(validation_data, tuple | list) and validation_data:
            validation_data = (several.flatten(validation_data[0]), *validation_data[1:])
    elif isinstance(x, list | tuple) and len(x) == 1:
        x = x[0]
    outs = None
    if isinstance(y, list | tuple) and len(y) == 1 and outputs == 1:
        y = y[0]
    elif outputs > 1 or isinstance(y, list | tuple | dict):
        outs = OutputsSideBySide(model, y)  # several outputs: one array, one summed loss
        y = outs.flatten(y)
        if isinstance(validation_data, tuple | list) and len(validation_data) > 1:
            validation_data = (validation_data[0], outs.flatten(validation_data[1]),
                               *validation_data[2:])  # fmt: skip
    val = None
    if validation_data is not None:
        if isinstance(validation_data, tuple | list):
            xv, yv = training_data(*validation_data[:2])
            wv = validation_data[2] if len(validation_data) > 2 else None
            wv = row_weights(yv, None if wv is None else np.asarray(wv)[: len(yv)])
            val = (xv, yv) if wv is None else (xv, yv, wv)
        else:
            val = training_data(validation_data)
    elif validation_split and y is not None:  # Keras holds out the last rows, unshuffled
        cut = int(len(x) * (1 - validation_split))
        if sample_weight is not None:
            sample_weight = np.asarray(sample_weight)[:cut]
        (x, y), val = (x[:cut], y[:cut]), training_data(x[cut:], y[cut:])
    rows_trained = len(x) if y is not None else None
    if y is not None and len(x) > LIMIT:  # the same sample of rows for the weights
        rows = np.sort(np.random.default_rng(0).choice(len(x), LIMIT, replace=False))
        x, y = np.asarray(x)[rows], np.asarray(y)[rows]
        if sample_weight is not None:
            sample_weight = np.asarray(sample_weight)[rows]
    xs, ys = training_data(x, y)
    ws = row_weights(ys, sample_weight, class_weight)
    # the checks read the first rows: shuffled (fixed seed), so sorted data gives them
    # a sample of every class, as fit's own shuffling would
    order = np.random.default_rng(0).permutation(len(xs))
    xs, ys = xs[order], ys[order]
    ws = None if ws is None else ws[order]
    batch_size = int(batch_size or 32)
    steps = int(epochs or 1) * max(1, math.ceil((rows_trained or len(xs)) / batch_size))
    if not model.built or not model.weights:  # a subclassed model builds at its first call
        (model if several is None else several.wrap(model))(xs[:2])
    def wrap(m):
        m = several.wrap(m) if several is not None else m
        return outs.wrap(m) if outs is not None else m

    plain = several is None and outs is None
    build, restore = _builder(
        model, None if plain else wrap, probe=xs[:8] if plain else None,
        loss=outs.loss() if outs is not None else None,
    )  # fmt: skip
    cannot = {}
    if outs is not None:
        reason = (f"could not run: it reads one output and its loss, and the model has "
                  f"{len(outs.names)} outputs ({', '.join(outs.names)}); the other checks read "
                  "them together, each output's loss weighted as compiled")  # fmt: skip
        cannot = dict.fromkeys(("labels", "output_and_loss", "loss_at_init"), reason)
    try:
        return run_checks(
            build,
            (xs, ys) if ws is None else (xs, ys, ws),
            val,
            total_steps=steps,
            checks=checks,
            batch_size=batch_size,
            progress=progress,
            set_output_bias=False,  # the program's model as it is
            budget=budget,
            cannot=cannot,
            fix_trials=fix_trials,
            steps_known=epochs is not None,
        )
    finally:
        restore()


class RecipeChecks(keras.callbacks.Callback):
    """The checks as a callback for your own ``model.fit``:
    ``model.fit(x, y, callbacks=[RecipeChecks(x, y)])``. At train begin it runs
    ``zoo.check`` on copies of the model (a subclassed model, which cannot be copied
    while it trains, is checked by ``zoo.check`` before ``fit`` instead) and prints a
    line per check; with ``stop_on_fail`` a failed check stops training after its
    first step (Keras looks at ``stop_training`` after each step). During training it
    keeps the monitors: predictions on a fixed batch (``PredictionDynamics``) and dead
    ReLU units (``DeadUnitMonitor``), in ``history`` and ``dead_units`` after training,
    and the training itself (``TrainingMonitor``: a NaN loss stops it, naming the layer;
    no progress, overfitting and "train longer" are read from the epochs). ``report``
    holds the checks, then the training's verdicts."""

    def __init__(self, x, y=None, *, validation_data=None, batch_size=None, epochs=None,
                 checks: tuple[str, ...] = ALL_CHECKS, stop_on_fail: bool = False,
                 say=print):  # fmt: skip
        super().__init__()
        self.x, self.y = training_data(x, y, limit=256)
        self.data = (x, y)
        self.validation_data, self.batch_size, self.epochs = validation_data, batch_size, epochs
        self.checks, self.stop_on_fail, self.say = checks, stop_on_fail, say
        self.report: ChecksReport | None = None
        self.monitors: list = []

    def on_train_begin(self, logs=None):
        try:
            keras.models.clone_model(self.model)
        except Exception:  # noqa: BLE001 - subclassed
            self.say("zoo checks: a subclassed model cannot be copied while it trains; run "
                     "zoo.check(model, x, y) before fit")  # fmt: skip
        else:
            self.report = check(
                self.model, *self.data, validation_data=self.validation_data,
                batch_size=self.batch_size, epochs=self.epochs, checks=self.checks,
                progress=lambda r: self.say(f"zoo checks: {r.line()}"),
            )  # fmt: skip
            if self.stop_on_fail and self.report.failed:
                self.say("zoo checks: a check failed; training stops after its first step")
                self.model.stop_training = True
        self.watch = TrainingMonitor(self.x, say=lambda r: self.say(f"zoo checks: {r.line()}"))
        self.monitors = [PredictionDynamics(self.x[:16], self.y[:16]), self.watch]
        if getattr(self.model, "inputs", None):
            self.monitors.append(DeadUnitMonitor(self.x[:256]))
        for monitor in self.monitors:
            monitor.set_model(self.model)
            monitor.on_train_begin(logs)

    def on_epoch_begin(self, epoch, logs=None):
        self.watch.on_epoch_begin(epoch, logs)

    def on_train_batch_end(self, batch, logs=None):
        self.watch.on_train_batch_end(batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        for monitor in self.monitors:
            monitor.on_epoch_end(epoch, logs)

    def on_train_end(self, logs=None):
        for monitor in self.monitors:
            monitor.on_train_end(logs)
        self.report = self.report or ChecksReport()
        self.report.results.extend(self.watch.results)

    @property
    def history(self):
        return self.monitors[0].history if self.monitors else []

    @property
    def dead_units(self) -> dict:
        found = [m for m in self.monitors if isinstance(m, DeadUnitMonitor)]
        return found[0].fractions if found else {}
