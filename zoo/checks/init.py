"""The loss at initialization (``loss_at_init``): held to what the model's outputs as
they are imply, with the expected figures (``expected_initial_loss``,
``best_initial_loss``) and the textbook value of each standard loss
(``standard_loss``)."""

from __future__ import annotations

import keras
import numpy as np

from zoo.checks.base import CheckResult, register
from zoo.checks.keras_private import loss_function_arguments
from zoo.data import as_arrays
from zoo.outputs import (
    LossInfo,
    class_ids,
    class_prior,
    final_activation,
    loss_kind,
    output_layer,
    resolve_loss,
)

FAMILY = "init"


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
    if kind == "binary":  # per output (several for multi-label), averaged as the loss is
        rows = y.reshape(len(y), -1).astype("float64")
        p = rows.mean(axis=0) if rows.shape[1] == len(bias) else np.full(len(bias), rows.mean())
        q = np.clip(1 / (1 + np.exp(-bias)), 1e-12, 1 - 1e-12)
        value = float(np.mean(-(p * np.log(q) + (1 - p) * np.log(1 - q))))
        return value, "label cross-entropy under the bias"
    labels = class_ids(y, len(bias))
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
    if kind == "binary":  # per output (several for multi-label), averaged
        rows = y.reshape(len(y), -1).astype("float64")
        p = np.clip(rows.mean(axis=0), 1e-9, 1 - 1e-9)
        return float(np.mean(-(p * np.log(p) + (1 - p) * np.log(1 - p))))
    labels = class_ids(y, units(model))
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
    # From logits Keras computes the loss exactly (a confidently wrong output costs what
    # it costs: 138 for logits 140 apart); from probabilities it clips them to
    # [1e-7, 1 - 1e-7] first. The formula here does the same, or a pretrained model's
    # large logits would read as a "clipped or scaled" loss.
    if info.kind == "softmax":
        if info.from_logits:
            z = np.asarray(out, "float64")
            z = z.reshape(-1, z.shape[-1])  # sequence outputs (n, T, C): every position
            z = z - z.max(axis=-1, keepdims=True)
            log_p = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
        else:
            p = _as_probabilities(out, info)
            log_p = np.log(p.reshape(-1, p.shape[-1]))
        one_hot = y.ndim > 1 and y.shape[-1] > 1 and y.size == log_p.size
        labels = (y.argmax(-1) if one_hot else y).reshape(-1).astype(int)
        return float(-np.mean(log_p[np.arange(len(log_p)), labels]))
    if info.kind == "binary":
        t = y.reshape(len(y), -1).astype("float64")
        if info.from_logits:
            z = np.asarray(out, "float64").reshape(len(y), -1)
            return float(np.mean(t * np.logaddexp(0, -z) + (1 - t) * np.logaddexp(0, z)))
        p = _as_probabilities(out, info).reshape(len(y), -1)
        return float(-np.mean(t * np.log(p) + (1 - t) * np.log(1 - p)))
    if info.kind == "regression":
        err = y.reshape(len(y), -1) - np.asarray(out, "float64").reshape(len(y), -1)
        if "absolute" in info.name:
            return float(np.mean(np.abs(err)))
        if "huber" in info.name:
            delta = float(loss_function_arguments(info.fn).get("delta", 1.0))
            a = np.abs(err)
            return float(np.mean(np.where(a <= delta, 0.5 * a**2, delta * (a - 0.5 * delta))))
        if "squared" in info.name or info.name in ("mse",):
            return float(np.mean(err**2))
    return None


# the losses Keras knows by these names: the standard one replaces a clipped or scaled copy
_STANDARD = ("sparse_categorical_crossentropy", "categorical_crossentropy",
             "binary_crossentropy", "mean_squared_error", "mean_absolute_error")  # fmt: skip


@register(FAMILY)
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
            fix={"from_logits": False}, root=True,
        )
    if classifier and not info.from_logits and activation == "linear":
        return result(
            "fail",
            None,
            f"the model outputs logits (no final softmax or sigmoid) but {info.name} takes "
            "probabilities (from_logits=False, Keras' default): pass from_logits=True to the "
            "loss, or end the model in a softmax/sigmoid.",
            fix={"from_logits": True}, root=True,
        )
    if info.kind == "softmax" and activation == "sigmoid" and out.shape[-1] > 1:
        # Keras computes a categorical cross-entropy over sigmoids from the logits
        # before them (output_and_loss says so): no textbook value of these outputs
        return result(
            "pass",
            None,
            f"initial loss {measured:.4g}: {info.name} over sigmoid outputs, which Keras "
            "computes from the logits before the sigmoid (see output_and_loss): measured only",
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
            root=True, fix={"loss": info.name} if info.name in _STANDARD else {},
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


