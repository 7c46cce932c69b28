"""What a compiled model's outputs and loss mean: the kind of loss (``loss_kind``),
whether it takes logits (``from_logits``), the output layer and the activation applied
last, the data loss without regularization penalties, the output-bias initialization
from the labels, and predictions as probabilities or values.

The training code, the evaluation and the checks all read a model through these, so
one answer holds everywhere ("is this a binary classifier with logits?").
"""

from __future__ import annotations

import re
import weakref
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np

from zoo.models import leaf_layers

# Keras' loss names (functions, classes, aliases) by what they take.
_KINDS = {
    "sparse_categorical_crossentropy": "softmax",
    "categorical_crossentropy": "softmax",
    "binary_crossentropy": "binary",
    "binary_focal_crossentropy": "binary",
    "categorical_focal_crossentropy": "softmax",
}
_REGRESSION = ("mean_squared", "mean_absolute", "huber", "log_cosh", "logcosh", "mse", "mae")


@dataclass
class LossInfo:
    """A compiled loss read the same way whatever form it was given in (a string, a
    function, a ``keras.losses.Loss``): ``fn(y, pred)`` gives the loss (per example or
    its mean), ``kind`` is ``"softmax"``, ``"binary"``, ``"regression"`` or
    ``"custom"`` (a function or class zoo does not know), ``from_logits`` is what the
    loss assumes (Keras' default for strings and functions: probabilities)."""

    fn: Any
    name: str
    kind: str
    from_logits: bool
    one_hot: bool = False


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _same_rank(fn):
    """``fn`` with the labels brought to the outputs' rank first, as ``compile`` does for
    a loss given as a string or a function ((n,) labels and (n, 1) outputs would
    otherwise broadcast to an (n, n) loss)."""

    def call(y_true, y_pred, **kwargs):
        y_true = keras.ops.convert_to_tensor(y_true)
        t, p = len(y_true.shape), len(y_pred.shape)
        if t == p - 1 and y_pred.shape[-1] == 1:
            y_true = keras.ops.expand_dims(y_true, -1)
        elif t == p + 1 and y_true.shape[-1] == 1:
            y_true = keras.ops.squeeze(y_true, -1)
        return fn(y_true, y_pred, **kwargs)

    call.__name__ = getattr(fn, "__name__", "loss")
    return call


def resolve_loss(model) -> LossInfo:
    """The compiled loss of a single-output ``model`` as a ``LossInfo``; a
    ``ValueError`` when the model is not compiled or has several losses."""
    loss = getattr(model, "loss", None)
    if isinstance(loss, dict | list | tuple):
        values = list(loss.values()) if isinstance(loss, dict) else list(loss)
        if len(values) != 1:
            raise ValueError(
                f"the model has {len(values)} losses (one per output); this check reads "
                "single-output models."
            )
        loss = values[0]
    if loss is None:
        raise ValueError("the model is not compiled with a loss; call model.compile first.")
    if isinstance(loss, str):
        fn = keras.losses.get(loss)
        name, kwargs = getattr(fn, "__name__", loss), {}
        fn = _same_rank(fn)
    elif isinstance(loss, keras.losses.Loss):
        fn = _same_rank(loss)  # as compile matches (n,) labels to (n, 1) outputs
        fn.loss = loss  # the object itself: its arguments, its weighting
        inner = getattr(loss, "fn", None)
        name = getattr(inner, "__name__", None) or _snake(type(loss).__name__)
        kwargs = getattr(loss, "_fn_kwargs", {}) or {}
    else:
        name, kwargs = getattr(loss, "__name__", type(loss).__name__), {}
        fn = _same_rank(loss)
    logits = bool(getattr(loss, "from_logits", kwargs.get("from_logits", False)))
    kind = _KINDS.get(name)
    if kind is None:
        kind = "regression" if any(k in name for k in _REGRESSION) else "custom"
    return LossInfo(fn, name, kind, logits, one_hot=name.startswith("categorical"))


def loss_kind(model) -> str:
    """``"softmax"`` (sparse or one-hot cross-entropy), ``"binary"`` or
    ``"regression"`` (a loss zoo does not know is read as a regression: its outputs
    are values), whatever form the loss was compiled in."""
    kind = resolve_loss(model).kind
    return "regression" if kind == "custom" else kind


def from_logits(model) -> bool:
    """Whether the compiled loss takes logits (Keras' strings and functions do not)."""
    return resolve_loss(model).from_logits


def output_layer(model):
    """The last layer with a kernel and a bias (the logits layer of a zoo model)."""
    for layer in reversed(list(leaf_layers(model))):
        if getattr(layer, "bias", None) is not None and getattr(layer, "kernel", None) is not None:
            return layer
    return None


def activation_layer(model):
    """The layer that applies the model's last activation (a ``Dense(..., activation=)``
    or an ``Activation`` after it), or the last layer with weights when none does; None
    for a model with neither."""
    for layer in reversed(list(leaf_layers(model))):
        if getattr(layer, "activation", None) is not None or getattr(layer, "weights", None):
            return layer
    return None


def final_activation(model) -> str:
    """Name of the activation applied last in the model ("linear" if none)."""
    activation = getattr(activation_layer(model), "activation", None)
    if activation is None:
        return "linear"
    return getattr(activation, "__name__", str(activation))


_COMPILED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _batch_loss(model, fn, training: bool):
    """``call(x, y, w)``: the mean loss of one batch (weighted when ``w`` is given); on
    TensorFlow a ``tf.function``, traced once per model, mode and loss: called eagerly
    a recurrent model's forward pass is many times slower."""

    def call(xb, yb, wb):
        pred = model(xb, training=training)
        if wb is None:
            value = fn(yb, pred)
        elif isinstance(getattr(fn, "loss", None), keras.losses.Loss):  # Keras weighs it
            value = fn(yb, pred, sample_weight=wb)
        else:  # per-example values: weighted as a compiled function loss is
            per = keras.ops.convert_to_tensor(fn(yb, pred))
            per = keras.ops.mean(keras.ops.reshape(per, (keras.ops.shape(per)[0], -1)), axis=1)
            value = per * keras.ops.cast(wb, per.dtype)
        return keras.ops.mean(keras.ops.cast(value, "float32"))

    if keras.backend.backend() != "tensorflow":
        return call
    import tensorflow as tf  # the TensorFlow backend is running: no import cost

    cache = _COMPILED.setdefault(model, {})
    key = (training, id(model.loss))
    if key not in cache:
        cache[key] = tf.function(call, reduce_retracing=True)
    return cache[key]


def data_loss(
    model, x, y, batch_size: int = 256, *, sample_weight=None, training: bool = False
) -> float:
    """The compiled loss on ``(x, y)`` without regularization penalties; a loss given
    per example (a function) is averaged, weighted by ``sample_weight`` as Keras weighs
    it (the sum of weighted losses over the number of examples). ``training=False``
    reads it in inference mode (what ``evaluate`` and validation see); ``training=True``
    in the mode ``fit`` trains in (batch statistics, dropout on), with the model's
    non-trainable state (moving statistics, random-seed states) left as it was."""
    call = _batch_loss(model, resolve_loss(model).fn, training)
    kept = []
    if training:
        kept = [(v, keras.ops.convert_to_numpy(v)) for v in model.non_trainable_variables]
    total, n = 0.0, 0
    try:
        for i in range(0, len(x), batch_size):
            xb, yb = x[i : i + batch_size], y[i : i + batch_size]
            wb = None if sample_weight is None else np.asarray(sample_weight[i : i + batch_size])
            value = float(keras.ops.convert_to_numpy(call(xb, yb, wb)))
            total += value * len(xb)
            n += len(xb)
    finally:
        for variable, value in kept:
            variable.assign(value)
    return total / max(n, 1)


def class_ids(y: np.ndarray, classes: int) -> np.ndarray:
    """Integer class ids from labels as a loss takes them: one-hot rows (the last axis
    as wide as the classes) or ids of any shape ((n,), (n, 1), a sequence's (n, T))."""
    y = np.asarray(y)
    if y.ndim > 1 and y.shape[-1] == classes and classes > 1:
        return y.argmax(axis=-1)
    return y


def class_prior(y: np.ndarray, classes: int) -> np.ndarray:
    """The fraction of each of ``classes`` integer labels in ``y``."""
    counts = np.bincount(y.astype(int).reshape(-1), minlength=classes).astype("float64")
    return counts / counts.sum()


def init_output_bias(model, y_train, task: str | None = None) -> np.ndarray:
    """Set the output layer's bias from the training labels, so the model starts at
    the loss of predicting the label distribution: log class priors (softmax), the
    logit of the positive rate (one sigmoid output), the target mean (regression).
    Returns the bias set."""
    layer = output_layer(model)
    if layer is None:
        raise ValueError("The model has no output layer with a bias to initialize.")
    y = np.asarray(y_train)
    units = int(layer.bias.shape[0])
    kind = None
    if task is None and getattr(model, "loss", None) is not None:
        kind = loss_kind(model)
        task = "regression" if kind == "regression" else "classification"
    elif task is None:  # not compiled yet: read the task from the outputs and labels
        binary = units == 1 and set(np.unique(y).tolist()) <= {0, 1}
        task = "classification" if units > 1 or binary else "regression"
    if task == "regression":
        target = y.reshape(len(y), -1).mean(axis=0)
        bias = np.broadcast_to(target, (units,)).astype("float32")
    elif units == 1 or kind == "binary":  # one sigmoid, or one per label (multi-label)
        rows = y.reshape(len(y), -1)
        p = np.clip(rows.mean(axis=0) if rows.shape[1] == units else rows.mean(), 1e-6, 1 - 1e-6)
        bias = np.broadcast_to(np.log(p / (1 - p)), (units,)).astype("float32")
    else:
        labels = class_ids(y, units)
        prior = np.clip(class_prior(labels, units), 1e-6, None)
        bias = np.log(prior)
        bias = (bias - bias.mean()).astype("float32")
    layer.bias.assign(bias)
    return bias


def predict_outputs(model, x: np.ndarray, task: str, batch_size: int = 256) -> np.ndarray:
    """Class probabilities ((n, C), or (n, 1) for one sigmoid unit) or regression values
    (n,) from a model that outputs logits (a zoo model) or probabilities."""
    out = np.asarray(model.predict(x, batch_size=batch_size, verbose=0), "float64")
    if task == "regression":
        return out.reshape(len(out), -1)[:, 0]
    if final_activation(model) in ("softmax", "sigmoid"):
        return out
    if out.shape[-1] == 1:
        return keras.ops.convert_to_numpy(keras.ops.sigmoid(out)).astype("float64")
    return keras.ops.convert_to_numpy(keras.ops.softmax(out, axis=-1)).astype("float64")
