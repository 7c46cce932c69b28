"""Checks on how the program is set up, read from the model and the data before any
training: the scale of what enters the first trainable layer (``input_scale``), the
labels against the loss and the outputs (``labels``), the output activation
against the loss and the targets (``output_and_loss``); regularization strong enough
to stop learning is ``regularization``'s. Each returns a
``CheckResult`` whose message names the evidence and the fix; they take a compiled
model and ``(x, y)`` as ``fit`` gets them."""

from __future__ import annotations

import keras
import numpy as np

from zoo.checks.base import CheckResult, register
from zoo.checks.init import units
from zoo.checks.keras_private import is_functional
from zoo.data import as_arrays
from zoo.outputs import final_activation, resolve_loss

# layers that only reshape, rescale or (in inference) leave their input as it is: what
# the first trainable layer sees is their output
_PASS_THROUGH = (
    keras.layers.Rescaling,
    keras.layers.Normalization,
    keras.layers.Resizing,
    keras.layers.CenterCrop,
    keras.layers.Flatten,
    keras.layers.Reshape,
    keras.layers.Permute,
    keras.layers.Dropout,
    keras.layers.GaussianNoise,
    keras.layers.InputLayer,
)
_AUGMENT = ("Random",)  # RandomFlip, RandomRotation, ...: identity in inference


def _first_trainable(model):
    """The first top-level layer with weights that is not preprocessing, and the
    layers before it (preprocessing, and weightless layers such as a ``Lambda`` that
    log-transforms or standardizes: what the first layer sees is their output)."""
    before = []
    for layer in model.layers:
        if (
            isinstance(layer, _PASS_THROUGH)
            or type(layer).__name__.startswith(_AUGMENT)
            or not layer.weights
        ):
            before.append(layer)
            continue
        return layer, before
    return None, before


def model_input(model, x: np.ndarray) -> tuple[np.ndarray, str, object]:
    """What enters the first trainable layer of ``model`` on ``x``: ``x`` passed through
    the model's own preprocessing layers (``Rescaling``, ``Normalization``, ...) in
    inference mode; the words for it; and that first layer (None for a subclassed
    model, whose inside is not read)."""
    scaled = getattr(model, "side_by_side", None)
    if scaled is not None:  # several inputs, side by side: those that carry values
        if not scaled.any():
            return x, "the model's inputs (token ids)", keras.layers.Embedding
        return x[:, scaled], "the model's inputs (side by side)", None
    if not is_functional(model):
        return x, "the model's input", None
    layer, before = _first_trainable(model)
    if not before:
        return x, "the model's input", layer
    if isinstance(model, keras.Sequential):
        h = x
        for pre in before:
            if not isinstance(pre, keras.layers.InputLayer):
                h = pre(h, training=False)
    else:
        try:
            inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs  # as called
            probe = keras.Model(inputs, layer.input if layer is not None else model.outputs)
            h = probe(x, training=False)
        except Exception:  # noqa: BLE001 - a graph zoo cannot cut there: read the input
            return x, "the model's input", layer
    names = ", ".join(
        type(p).__name__ for p in before if not isinstance(p, keras.layers.InputLayer)
    )
    words = f"the input after the model's {names}" if names else "the model's input"
    return keras.ops.convert_to_numpy(h), words, layer


@register("setup")
def input_scale(model, train, *, limit: int = 1024, large: float = 20.0, loose: float = 4.0):
    """What enters the first trainable layer should be roughly standardized (each
    feature's root mean square near 1): it fails when a feature's scale is above
    ``large`` (raw 0-255 pixels, unscaled measurements: saturated units, huge first
    gradients), warns above ``loose`` or when one feature dwarfs the others by 100x.
    Token ids (integer inputs to an Embedding) and inputs normalized by the model's
    first layer (BatchNormalization, LayerNormalization) pass."""
    x, _ = as_arrays(train, limit=limit)

    def result(status, measured, message):
        fix = {"inputs": "standardize"} if status != "pass" and measured else {}
        return CheckResult("input_scale", status != "fail", measured, f"<= {loose:g}", message,
                           status=status, details={"fix": fix} if fix else {})  # fmt: skip

    xin, words, first = model_input(model, x)
    if first is keras.layers.Embedding or isinstance(first, keras.layers.Embedding) or (
        np.issubdtype(x.dtype, np.integer)
    ) and (
        first is None or isinstance(first, keras.layers.Embedding)
    ):
        return result("pass", None, "integer inputs (token ids) into an Embedding: no scale")
    if isinstance(first, keras.layers.BatchNormalization | keras.layers.LayerNormalization):
        return result("pass", None,
                      f"the model normalizes its input first ({type(first).__name__})")  # fmt: skip
    xin = np.asarray(xin, "float64")
    if not np.isfinite(xin).all():
        bad = int((~np.isfinite(xin)).sum())
        return result("fail", None, f"{words} holds {bad} NaN or infinite values: fill or drop "
                      "them before training (they make every loss and gradient NaN)")  # fmt: skip
    flat = xin.reshape(-1, xin.shape[-1]) if xin.ndim > 2 else xin.reshape(len(xin), -1)
    mean, std = flat.mean(axis=0), flat.std(axis=0)
    rms = np.sqrt(mean**2 + std**2)
    if len(flat) > 1 and not std.any():
        return result("fail", 0.0, f"every value of {words} is the same across examples "
                      f"(e.g. {flat.reshape(-1)[0]:.4g}): the preprocessing zeroes or "
                      "constant-fills the inputs (an integer division, a cast to int of values "
                      "below 1)")  # fmt: skip
    worst = int(np.argmax(rms))
    scale = float(rms[worst])
    what = "channel" if xin.ndim > 2 else "feature"
    pixels = (
        scale > 1.5
        and flat.min() >= 0
        and 20 < flat.max() <= 255
        and np.allclose(flat[: 256 * 64], np.round(flat[: 256 * 64]))
    )
    evidence = (
        f"{what} {worst} of {words} has mean {mean[worst]:.4g} and spread {std[worst]:.4g} "
        f"(values {flat.min():.4g} to {flat.max():.4g})"
    )
    if pixels:
        fix = ("they look like raw 0-255 pixel values: divide by 255 (or put "
               "keras.layers.Rescaling(1/255) first in the model)")  # fmt: skip
    else:
        fix = ("standardize the inputs (sklearn's StandardScaler fitted on the training set, "
               "or keras.layers.Normalization adapted to it, first in the model)")  # fmt: skip
    if scale > large:
        return result("fail", scale, f"{evidence}: inputs this large saturate units and give "
                      f"huge first gradients; {fix}")  # fmt: skip
    median = float(np.median(rms[rms > 0])) if (rms > 0).any() else 0.0
    if scale > loose:
        return result("warn", scale, f"{evidence}: trains, but slower than standardized "
                      f"inputs would; {fix}")  # fmt: skip
    if median > 0 and scale > 100 * median and scale > 1:
        return result("warn", scale, f"{evidence}, 100 times the median {what}'s scale "
                      f"({median:.3g}): it dominates the first layer; {fix}")  # fmt: skip
    return result("pass", scale, f"{words} is on a standard scale (the largest {what} "
                  f"scale, root mean square, is {scale:.3g})")  # fmt: skip


def _values(y: np.ndarray, n: int = 6) -> str:
    distinct = np.unique(y)
    return ", ".join(f"{v:g}" for v in distinct[:n]) + (", ..." if len(distinct) > n else "")


def _split_classes(y_train: np.ndarray, y_val: np.ndarray) -> str:
    """Words on a validation set whose classes training never sees, or that holds a
    single class where training has several (data sorted by label, then split by
    position as ``validation_split`` does); empty if neither."""
    def ids(y):
        y = np.asarray(y)
        return y.argmax(-1) if y.ndim > 1 and y.shape[-1] > 1 else np.round(y.reshape(-1))

    train, val = set(np.unique(ids(y_train))), set(np.unique(ids(y_val)))
    unseen = sorted(val - train)
    how = ("validation_split holds out the last rows, before fit's shuffling: rows sorted "
           "by label put whole classes there. Shuffle the arrays first "
           "(sklearn.utils.shuffle), or split with train_test_split(..., stratify=y)")
    if unseen:
        return (f"validation holds class(es) {', '.join(f'{c:g}' for c in unseen[:5])} that "
                f"the training data never shows: {how}")  # fmt: skip
    if len(val) == 1 and len(train) > 2 and len(y_val) >= 10:
        return (f"every one of the {len(y_val)} validation labels is class "
                f"{next(iter(val)):g}, while training has {len(train)} classes: {how}")
    return ""


@register("setup")
def labels(model, train, val=None, *, limit: int = 4096) -> CheckResult:
    """The labels must be what the loss and the outputs take: class ids 0..C-1 for a
    sparse cross-entropy, one-hot rows of width C for a categorical one, 0/1 (or
    probabilities) for a binary one, finite values for a regression. For a classifier,
    the validation labels (``val``) must not hold classes that training never sees, or
    a single class of several (data sorted by label and split by position)."""
    checked = _labels(model, train, limit)
    if checked.status != "fail" and val is not None and resolve_loss(model).kind in (
        "softmax", "binary"
    ):
        problem = _split_classes(as_arrays(train, limit=limit)[1], as_arrays(val)[1])
        if problem:
            return CheckResult("labels", False, None, None, problem,
                               details={"fix": {"split": "shuffle"}})  # fmt: skip
    return checked


def _labels(model, train, limit: int) -> CheckResult:
    _, y = as_arrays(train, limit=limit)
    info = resolve_loss(model)
    n_out = units(model)
    y = np.asarray(y)

    def result(status, message, measured=None, expected=None, fix=None):
        return CheckResult("labels", status != "fail", measured, expected, message, status=status,
                           details={"fix": fix} if fix else {})  # fmt: skip

    if not np.issubdtype(y.dtype, np.number) and y.dtype != bool:
        return result("fail", f"the labels are {y.dtype} (e.g. {y.reshape(-1)[0]!r}): "
                      "encode them as numbers (sklearn's LabelEncoder, or a dict to class "
                      "ids)")  # fmt: skip
    y = y.astype("float64")
    if not np.isfinite(y).all():
        return result("fail", f"{int((~np.isfinite(y)).sum())} labels are NaN or infinite: "
                      "every loss they touch is NaN; drop or fill them")  # fmt: skip
    integral = bool(np.allclose(y, np.round(y)))
    try:  # a per-step output (n, T, C) takes labels (n, T): a class id per step
        per_step = len(model.output_shape) == 3 and y.ndim == 2 and (
            model.output_shape[1] in (None, y.shape[1]))
    except (AttributeError, TypeError, ValueError):
        per_step = False
    one_col = y.ndim == 1 or y.shape[-1] == 1 or per_step
    if info.kind == "softmax" and info.one_hot:
        if one_col:
            return result("fail", f"{info.name} takes one-hot labels of width {n_out}, but these "
                          f"are class ids ({_values(y)}): use sparse_categorical_crossentropy, "
                          "or keras.utils.to_categorical(y)", "class ids", "one-hot",
                          {"loss": "sparse_categorical_crossentropy"})  # fmt: skip
        if y.shape[-1] != n_out:
            return result("fail", f"one-hot labels of width {y.shape[-1]} for a model with "
                          f"{n_out} outputs: they must match (to_categorical(y, {n_out}) or "
                          f"Dense({y.shape[-1]}))", y.shape[-1], n_out)  # fmt: skip
        sums = y.sum(axis=-1)
        if y.min() < 0 or y.max() > 1 or not np.allclose(sums, 1, atol=1e-3):
            return result("fail", f"the one-hot rows are not distributions (values "
                          f"{y.min():g} to {y.max():g}, rows summing to {sums.min():g} to "
                          f"{sums.max():g}): each row needs one 1, or probabilities summing "
                          "to 1")  # fmt: skip
        return result("pass", f"one-hot labels over {n_out} classes")
    if info.kind == "softmax":
        if not one_col:
            return result("fail", f"{info.name} takes class ids, but these labels have "
                          f"{y.shape[-1]} columns (one-hot?): use categorical_crossentropy, or "
                          "y.argmax(-1)", fix={"loss": "categorical_crossentropy"})  # fmt: skip
        if not integral:
            steps = np.diff(np.unique(y))
            unit = float(steps[steps > 1e-9].min()) if (steps > 1e-9).any() else 0.0
            undo = round(1 / unit) if unit > 0 else 0
            fits = undo > 1 and np.allclose(y * undo, np.round(y * undo), atol=1e-3) and (
                0 <= (y * undo).min() and (y * undo).max() <= n_out - 1 + 1e-3)
            return result("fail", f"{info.name} takes class ids 0..{n_out - 1}, but the labels "
                          f"are fractions ({_values(y)}): they look scaled (divided by 255 or "
                          "by the number of classes) with the inputs; scale the inputs only",
                          _values(y), f"0..{n_out - 1}",
                          {"labels_times": float(undo)} if fits else None)  # fmt: skip
        low, high = int(y.min()), int(y.max())
        if low < 0 or high >= n_out:
            hint = ("the classes look numbered from 1: subtract 1 from the labels"
                    if low >= 1 and high == n_out else
                    f"give the last layer {high + 1} units, or renumber the labels 0..{n_out - 1}")
            return result("fail", f"labels run {low}..{high} but the model has {n_out} "
                          f"outputs (class ids 0..{n_out - 1}): {hint}",
                          f"{low}..{high}", f"0..{n_out - 1}",
                          {"labels": "minus_one"} if low >= 1 and high == n_out
                          else None)  # fmt: skip
        if n_out == 1:
            return result("fail", "a sparse cross-entropy over a single output: every label "
                          "is class 0 and the loss is always 0; use Dense(C) with C classes, or "
                          "one sigmoid unit with binary_crossentropy")  # fmt: skip
        return result("pass", f"class ids {low}..{high} for {n_out} outputs")
    if info.kind == "binary":
        if y.min() < 0 or y.max() > 1:
            many = integral and len(np.unique(y)) > 2
            fix = (f"these are {len(np.unique(y))} classes: Dense(C, softmax) with "
                   "sparse_categorical_crossentropy" if many else "map them to 0 and 1")
            return result("fail", f"{info.name} takes labels 0/1 (or probabilities), but "
                          f"these run {y.min():g}..{y.max():g} ({_values(y)}): {fix}",
                          _values(y), "0/1", None if many else {"labels": "zero_one"})  # fmt: skip
        if one_col and n_out > 1:
            return result("fail", f"one label per example but {n_out} sigmoid outputs under "
                          f"{info.name}: each output is trained to the same 0/1. For one "
                          f"binary label use Dense(1, sigmoid); for {n_out} classes, "
                          "Dense(C, softmax) with sparse_categorical_crossentropy")  # fmt: skip
        return result("pass", "labels 0/1 (or probabilities) for a binary loss")
    return result("pass", f"finite targets ({y.min():.4g} to {y.max():.4g})")


# output activations whose values are not probabilities (a linear output: loss_at_init)
_NOT_PROBABILITY = ("relu", "tanh", "elu", "selu", "softplus", "exponential", "leaky_relu",
                    "relu6", "gelu", "silu", "swish")  # fmt: skip
_RANGES = {
    "sigmoid": (0.0, 1.0),
    "softmax": (0.0, 1.0),
    "tanh": (-1.0, 1.0),
    "relu": (0.0, np.inf),
    "softplus": (0.0, np.inf),
    "exponential": (0.0, np.inf),
    "elu": (-1.0, np.inf),
}


# a regression target beyond this root mean square is worth standardizing
TARGET_SCALE = 100.0


@register("setup")
def output_and_loss(model, train, *, limit: int = 4096) -> CheckResult:
    """The output activation must suit the loss and the targets: no softmax over one
    unit; no binary cross-entropy over a softmax of several classes; no categorical
    cross-entropy over sigmoids (Keras renormalizes them silently); no regression loss
    on class probabilities or 0/1 labels; and an output whose range can reach the
    targets (a sigmoid cannot output 150, a ReLU cannot output -1)."""
    _, y = as_arrays(train, limit=limit)
    info = resolve_loss(model)
    activation = final_activation(model)
    n_out = units(model)
    y = np.asarray(y, "float64")

    def result(status, message, fix=None):
        return CheckResult("output_and_loss", status != "fail", activation, None, message,
                           status=status, details={"fix": fix} if fix else {})  # fmt: skip

    probabilities = info.kind in ("softmax", "binary") and not info.from_logits
    if probabilities and activation in _NOT_PROBABILITY:
        target = "softmax" if info.kind == "softmax" and n_out > 1 else "sigmoid"
        low, high = _RANGES.get(activation, (-np.inf, np.inf))
        return result("fail", f"{info.name} reads the outputs as probabilities, but a "
                      f"{activation} output gives {low:g} to {high:g}: outputs of 0 (or below) "
                      "make the loss NaN or clip it, and outputs above 1 are clipped, with no "
                      f"gradient. End the model in activation='{target}'",
                      {"activation": target})  # fmt: skip
    if activation == "softmax" and n_out == 1:
        return result("fail", "a softmax over a single unit outputs 1.0 for every input, so "
                      "nothing is learned: for a binary task use Dense(1, activation="
                      "'sigmoid') with binary_crossentropy, or Dense(2, activation='softmax') "
                      "with sparse_categorical_crossentropy",
                      {"activation": "sigmoid", "loss": "binary_crossentropy"})  # fmt: skip
    if info.kind == "binary" and activation == "softmax" and n_out > 2:
        return result("fail", f"{info.name} over a softmax of {n_out} classes: it scores "
                      "each class as a separate yes/no and reports binary accuracy, which "
                      "looks high while the model is wrong; use categorical_crossentropy "
                      "(one-hot labels) or sparse_categorical_crossentropy (class "
                      "ids)", {"loss": "categorical_crossentropy" if y.ndim > 1
                               and y.shape[-1] == n_out
                               else "sparse_categorical_crossentropy"})  # fmt: skip
    if info.kind == "softmax" and activation == "sigmoid" and n_out > 1:
        # Keras 3 trains it as a softmax (the loss reads the logits cached on the
        # sigmoid): it trains well, only the outputs are not the probabilities trained
        return result("warn", f"{info.name} over {n_out} sigmoid outputs: Keras silently "
                      "rescales them to sum to 1, so the outputs are not the probabilities "
                      "trained; use activation='softmax' (one class per example) or "
                      "binary_crossentropy (several labels per example)",
                      {"activation": "softmax"})  # fmt: skip
    if activation == "softmax" and n_out > 1 and y.ndim > 1 and y.shape[-1] == n_out:
        several = float(np.mean(y.sum(axis=-1) > 1 + 1e-6))
        if several > 0.01 and set(np.unique(y)) <= {0.0, 1.0}:
            return result("fail", f"{several:.0%} of the target rows hold several labels "
                          "(multi-hot), but a softmax sums to 1 over its outputs and cannot "
                          "give two of them 1: the loss cannot reach those targets. For "
                          "several labels per example use activation='sigmoid' with "
                          "binary_crossentropy",
                          {"activation": "sigmoid", "loss": "binary_crossentropy"})  # fmt: skip
    if info.kind == "regression":
        binary = set(np.unique(y)) <= {0.0, 1.0}
        one_hot = (binary and y.ndim == 2 and y.shape[-1] == n_out > 2
                   and np.allclose(y.sum(axis=-1), 1))  # fmt: skip
        if one_hot and activation == "linear":
            return result("warn", f"{info.name}, a regression loss, on one-hot class labels "
                          f"from a linear output of {n_out} units: a classification trained as a "
                          "regression, slower and without probabilities; use "
                          "activation='softmax' with categorical_crossentropy",
                          {"activation": "softmax",
                           "loss": "categorical_crossentropy"})  # fmt: skip
        if activation == "softmax" or (activation == "sigmoid" and binary):
            # a valid choice that trains, more slowly from confident wrong answers: the
            # short trainings (loss_decreasing, overfit_one_batch) show any harm
            return result("warn", f"{info.name}, a regression loss, on "
                          f"{'class probabilities' if activation == 'softmax' else '0/1 labels'}"
                          f" from a {activation}: its gradient vanishes where the {activation} "
                          "saturates on a wrong answer; use "
                          f"{'categorical' if activation == 'softmax' else 'binary'}"
                          "_crossentropy", {"loss": (
                              "categorical_crossentropy" if activation == "softmax"
                              else "binary_crossentropy")})  # fmt: skip
        low, high = _RANGES.get(activation, (-np.inf, np.inf))
        outside = float(np.mean((y < low - 1e-6) | (y > high + 1e-6)))
        if outside > 0.01:
            return result("fail", f"{outside:.0%} of the targets ({y.min():.4g} to "
                          f"{y.max():.4g}) lie outside what a {activation} output can give "
                          f"({low:g} to {high:g}): remove the final activation (a linear "
                          "output), or scale the targets into its range",
                          {"activation": "linear"})  # fmt: skip
        scale = float(np.sqrt(np.mean(y**2)))
        if activation == "linear" and not binary and scale > TARGET_SCALE:
            squared = (f", and the loss and its gradients are {scale**2:.2g} times those of "
                       "standardized targets") if "squared" in info.name else ""  # fmt: skip
            return result("warn", f"{info.name} on targets of root mean square {scale:.4g} "
                          f"(spread {y.std():.4g}): the output must grow about {scale:.2g} times "
                          f"from its initial scale of about 1 to reach them{squared}; standardize "
                          "the targets (subtract the training mean, divide by the spread, and "
                          "invert that on the predictions)",
                          {"targets": "standardize"})  # fmt: skip
    return result("pass", f"a {activation} output with {info.name}"
                  + (f" on targets in [{y.min():.4g}, {y.max():.4g}]" if info.kind == "regression"
                     else ""))  # fmt: skip
