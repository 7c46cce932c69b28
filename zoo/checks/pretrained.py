"""Inputs outside what a pretrained part was trained on: a frozen ``keras.applications``
base (or any frozen sub-model of a known family) fed values on another range than its
own preprocessing gives (0-255 where it expects -1..1, 0..1 where it rescales 0-255
itself, raw pixels where it expects ImageNet-mean-subtracted BGR). The recipe: "a
pretrained model fed inputs on another scale"."""

from __future__ import annotations

import keras
import numpy as np

from zoo.checks.base import CheckResult, arrays, register
from zoo.checks.keras_private import inbound_tensor, is_functional

FAMILY = "pretrained"

# keras.applications' families by model name: (name prefix, mode, preprocessing function);
# the first prefix that matches wins (v2 before v1)
_FAMILIES = (
    ("resnet50v2", "tf", "resnet_v2"), ("resnet101v2", "tf", "resnet_v2"),
    ("resnet152v2", "tf", "resnet_v2"), ("resnet", "caffe", "resnet"), ("vgg16", "caffe", "vgg16"),
    ("vgg19", "caffe", "vgg19"), ("mobilenetv3", "raw", "mobilenet_v3"),
    ("mobilenetv2", "tf", "mobilenet_v2"), ("mobilenet", "tf", "mobilenet"),
    ("inception_resnet_v2", "tf", "inception_resnet_v2"), ("inception_v3", "tf", "inception_v3"),
    ("xception", "tf", "xception"), ("nasnet", "tf", "nasnet"), ("densenet", "torch", "densenet"),
    ("efficientnetv2", "raw", "efficientnet_v2"), ("efficientnet", "raw", "efficientnet"),
    ("convnext", "raw", "convnext"), ("regnet", "raw", "regnet"),
)  # fmt: skip
_EXPECTED = {
    "tf": ((-1.0, 1.0), "values in -1..1"),
    "caffe": ((-124.0, 152.0), "0-255 BGR pixels minus the ImageNet mean"),
    "torch": ((-2.2, 2.7), "0..1 pixels standardized by the ImageNet mean and spread"),
    "raw": ((0.0, 255.0), "raw 0-255 pixels (it rescales them itself)"),
}


def _family(name: str) -> tuple[str, str] | None:
    lowered = name.lower().replace("-", "").replace("_", "")
    for prefix, mode, module in _FAMILIES:
        if lowered.startswith(prefix.replace("_", "")):
            return mode, module
    return None


def _frozen(layer) -> bool:
    return bool(layer.weights) and not any(w.trainable for w in layer.weights)


def _fed(model, base, x: np.ndarray) -> np.ndarray:
    """What reaches ``base`` (a top-level layer of ``model``) on ``x``."""
    if isinstance(model, keras.Sequential):
        h = x
        for layer in model.layers:
            if layer is base:
                return keras.ops.convert_to_numpy(h)
            h = layer(h, training=False)
    # one input as itself, not a list of one: Keras warns when a list-input model is
    # called on a tensor
    inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
    probe = keras.Model(inputs, inbound_tensor(base))
    return keras.ops.convert_to_numpy(probe(x, training=False))


def _mismatch(mode: str, low: float, high: float) -> tuple[str, tuple[float, float]] | None:
    """Words for inputs in ``low..high`` given to a base of ``mode``, and the affine map
    (scale, shift) that brings them to its range; None when they fit."""
    if mode == "raw" and high <= 2.0:
        return "values in 0..1, a tenth of a percent of what it expects", (255.0, 0.0)
    if mode == "tf" and high > 5.0:
        return "0-255 values, over a hundred times what it expects", (1 / 127.5, -1.0)
    if mode == "tf" and low >= -0.05 and 0.5 < high <= 1.05:
        return "values in 0..1, half the range it expects and none below 0", (2.0, -1.0)
    if mode == "caffe" and high <= 5.0:
        return "small values, a hundredth of what it expects", (255.0, -120.0)
    if mode == "torch" and high > 5.0:
        return "0-255 values, a hundred times what it expects", (1 / (255 * 0.226), -0.449 / 0.226)
    return None


@register(FAMILY)
def frozen_inputs(model, train, *, limit: int = 64) -> CheckResult:
    """A frozen sub-model of a known pretrained family (``keras.applications``' names:
    resnet50, mobilenetv2_1.00_224, efficientnetb0, ...) must be fed values in the range
    its own preprocessing gives; the values reaching it are read (the 0.5th to 99.5th
    percentile) on the training inputs. A warning naming the preprocessing function
    to use: whether it harms is for the trainings and the fix trial to show."""
    if not is_functional(model):
        return CheckResult("frozen_inputs", True, None, None, "a subclassed model: not read")
    bases = [la for la in model.layers if isinstance(la, keras.Model) and _frozen(la)
             and _family(la.name)]  # fmt: skip
    if not bases:
        return CheckResult("frozen_inputs", True, None, None,
                           "no frozen pretrained part of a known family")  # fmt: skip
    x, _, _ = arrays(train, limit=limit)
    for base in bases:
        mode, module = _family(base.name)
        seen = np.asarray(_fed(model, base, x), "float64")
        low, high = (float(v) for v in np.percentile(seen, [0.5, 99.5]))
        wrong = _mismatch(mode, low, high)
        (elow, ehigh), words = _EXPECTED[mode]
        if wrong:
            what, (scale, shift) = wrong
            # the same map on the model's own input, through the (linear) layers before
            xlow, xhigh = (float(v) for v in np.percentile(x.astype("float64"), [0.5, 99.5]))
            c = (high - low) / (xhigh - xlow) if xhigh > xlow else 1.0
            d = low - c * xlow
            scale, shift = scale, ((scale * d + shift - d) / c if c else shift)
            return CheckResult(
                "frozen_inputs", True, f"{low:.3g}..{high:.3g}", f"{elow:g}..{ehigh:g}",
                f"the frozen {base.name} is fed {what} ({low:.3g} to {high:.3g}), but it was "
                f"trained on {words}: its features will be far from what it learned. Apply "
                f"keras.applications.{module}.preprocess_input to the images first (and "
                "nothing else)", status="warn",
                details={"layer": base.name, "fix": {"inputs_affine": (scale, shift)}},
            )  # fmt: skip
    return CheckResult("frozen_inputs", True, f"{low:.3g}..{high:.3g}", f"{elow:g}..{ehigh:g}",
                       f"the frozen {base.name} is fed values in {low:.3g}..{high:.3g}, as "
                       f"{module}'s preprocessing gives")  # fmt: skip
