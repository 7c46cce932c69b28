"""ResNet 18/34/50/101/152 for ImageNet (He et al. 2015), as torchvision builds them:
projection shortcuts where the shape changes, and in bottleneck blocks the stride on
the 3x3 conv ("ResNet v1.5").

``residual_stages`` is the one stage builder; the CIFAR ResNets use it too.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import layers

from zoo.blocks import basic_block, bottleneck_block, conv_bn_act, scale_width
from zoo.models import register
from zoo.models.common import check_args, finish, model_input
from zoo.models.variants import RESNET_STAGES, RESNET_WIDTHS

BLOCKS = {"basic": basic_block, "bottleneck": bottleneck_block}


def residual_stages(
    x,
    block: str,
    widths: Sequence[int],
    blocks_per_stage: Sequence[int],
    *,
    first_strides: Sequence[int],
    shortcut: str = "projection",
    zero_init_residual: bool = False,
    regularizer=None,
    max_norm=None,
):
    """Stack stages of residual blocks; the first block of stage ``s`` has stride
    ``first_strides[s]``. Blocks are named ``stage{s}_block{b}``."""
    if block not in BLOCKS:
        raise ValueError(f"block={block!r} must be one of {sorted(BLOCKS)}.")
    for s, (width, count, stride) in enumerate(
        zip(widths, blocks_per_stage, first_strides, strict=True), start=1
    ):
        for b in range(1, count + 1):
            x = BLOCKS[block](
                x,
                width,
                stride if b == 1 else 1,
                shortcut=shortcut,
                zero_init_residual=zero_init_residual,
                regularizer=regularizer,
                max_norm=max_norm,
                name=f"stage{s}_block{b}",
            )
    return x


@register("resnet")
def resnet(
    depth: int = 50,
    input_shape: Sequence[int] = (224, 224, 3),
    num_classes: int = 1000,
    *,
    dropout: float = 0.0,
    width_multiplier: float = 1.0,
    include_top: bool = True,
    pooling: str | None = None,
    shortcut: str = "projection",
    zero_init_residual: bool = False,
    regularizer=None,
    max_norm=None,
    name: str | None = None,
) -> keras.Model:
    """ResNet-``depth``: 7x7/2 conv stem, 3x3/2 max-pool, four residual stages,
    global average pooling, logits."""
    if depth not in RESNET_STAGES:
        raise ValueError(f"resnet: depth={depth!r} must be one of {sorted(RESNET_STAGES)}.")
    name = name or f"resnet{depth}"
    shape = check_args(
        input_shape,
        num_classes,
        dropout=dropout,
        width_multiplier=width_multiplier,
        pooling=pooling,
        min_size=32,
        model=name,
    )
    block, counts = RESNET_STAGES[depth]
    inputs = model_input(shape)
    kw = dict(regularizer=regularizer, max_norm=max_norm)
    x = conv_bn_act(inputs, scale_width(64, width_multiplier), 7, 2, **kw, name="conv1")
    x = layers.ZeroPadding2D(1, name="pool1_pad")(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool1")(x)
    x = residual_stages(
        x,
        block,
        [scale_width(w, width_multiplier) for w in RESNET_WIDTHS],
        counts,
        first_strides=(1, 2, 2, 2),
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
