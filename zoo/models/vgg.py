"""VGG 11/13/16/19 (Simonyan & Zisserman 2014, configurations A, B, D, E), with and
without BatchNormalization, in the ImageNet layout: five stages of 3x3 convs each
ending in a 2x2 max-pool, then Flatten -> 4096 -> 4096 -> logits with dropout 0.5.

With ``batch_norm=True`` the convs drop their bias (BN makes it redundant), so a BN
variant has exactly the conv-bias count fewer parameters than torchvision's
``vgg*_bn``, which keeps them.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import layers

from zoo.blocks import conv_bn_act, scale_width
from zoo.models import register
from zoo.models.common import check_args, finish, model_input
from zoo.models.variants import VGG_STAGES, VGG_WIDTHS


@register("vgg")
def vgg(
    depth: int = 16,
    input_shape: Sequence[int] = (224, 224, 3),
    num_classes: int = 1000,
    *,
    batch_norm: bool = False,
    dropout: float = 0.5,
    hidden: Sequence[int] = (4096, 4096),
    width_multiplier: float = 1.0,
    include_top: bool = True,
    pooling: str | None = None,
    regularizer=None,
    max_norm=None,
    name: str | None = None,
) -> keras.Model:
    """VGG-``depth``. ``width_multiplier`` scales every width, the classifier's included."""
    if depth not in VGG_STAGES:
        raise ValueError(f"vgg: depth={depth!r} must be one of {sorted(VGG_STAGES)}.")
    name = name or f"vgg{depth}{'_bn' if batch_norm else ''}"
    shape = check_args(
        input_shape,
        num_classes,
        dropout=dropout,
        width_multiplier=width_multiplier,
        pooling=pooling,
        min_size=32,
        model=name,
    )
    inputs = model_input(shape)
    x = inputs
    for s, (convs, width) in enumerate(zip(VGG_STAGES[depth], VGG_WIDTHS, strict=True), 1):
        for c in range(1, convs + 1):
            x = conv_bn_act(
                x,
                scale_width(width, width_multiplier),
                3,
                batch_norm=batch_norm,
                regularizer=regularizer,
                max_norm=max_norm,
                name=f"block{s}_conv{c}",
            )
        x = layers.MaxPooling2D(2, name=f"block{s}_pool")(x)
    return finish(
        inputs,
        x,
        include_top=include_top,
        num_classes=num_classes,
        pooling=pooling,
        top_pooling="flatten",
        hidden=[scale_width(h, width_multiplier) for h in hidden],
        dropout=dropout,
        regularizer=regularizer,
        max_norm=max_norm,
        name=name,
    )
