"""ResNet 20/32/44/56/110 for CIFAR-10 (He et al. 2015, section 4.2 and Table 6):
a 3x3 conv with 16 filters, three stages of ``n`` basic blocks with 16, 32 and 64
filters (depth = 6n + 2), global average pooling, logits. Shortcuts are option A
(parameter-free zero padding), as in the paper's CIFAR experiments.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras

from zoo.blocks import conv_bn_act, scale_width
from zoo.models import register
from zoo.models.common import check_args, finish, model_input
from zoo.models.resnet import residual_stages
from zoo.models.variants import CIFAR_DEPTHS, CIFAR_WIDTHS


@register("cifar_resnet")
def cifar_resnet(
    depth: int = 20,
    input_shape: Sequence[int] = (32, 32, 3),
    num_classes: int = 10,
    *,
    dropout: float = 0.0,
    width_multiplier: float = 1.0,
    include_top: bool = True,
    pooling: str | None = None,
    shortcut: str = "zero_pad",
    zero_init_residual: bool = False,
    regularizer=None,
    max_norm=None,
    name: str | None = None,
) -> keras.Model:
    """CIFAR ResNet-``depth``; any depth of the form 6n + 2 builds."""
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 8 or (depth - 2) % 6:
        raise ValueError(
            f"cifar_resnet: depth={depth!r} must be 6n + 2 for some n >= 1 "
            f"(the paper's are {', '.join(map(str, CIFAR_DEPTHS))})."
        )
    name = name or f"cifar_resnet{depth}"
    shape = check_args(
        input_shape,
        num_classes,
        dropout=dropout,
        width_multiplier=width_multiplier,
        pooling=pooling,
        min_size=4,
        model=name,
    )
    n = (depth - 2) // 6
    kw = dict(regularizer=regularizer, max_norm=max_norm)
    inputs = model_input(shape)
    x = conv_bn_act(inputs, scale_width(16, width_multiplier), 3, **kw, name="conv1")
    x = residual_stages(
        x,
        "basic",
        [scale_width(w, width_multiplier) for w in CIFAR_WIDTHS],
        (n, n, n),
        first_strides=(1, 2, 2),
        shortcut=shortcut,
        zero_init_residual=zero_init_residual,
        **kw,
    )
    return finish(
        inputs,
        x,
        include_top=include_top,
        num_classes=num_classes,
        pooling=pooling,
        dropout=dropout,
        name=name,
        **kw,
    )
