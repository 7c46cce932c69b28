"""Small conv-BN-ReLU networks for 8x8 to 32x32 images (digits, MNIST, CIFAR).

A network is a table of stages, ``(filters, convs)``; a 2x2 max-pool follows every
stage but the last, then global average pooling and the logits.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import keras
from keras import layers

from zoo.blocks import conv_bn_act, scale_width
from zoo.models import register
from zoo.models.common import check_args, finish, model_input
from zoo.models.variants import CONVNET_STAGES, TINY_STAGES


@register("convnet")
def convnet(
    input_shape: Sequence[int] = (8, 8, 1),
    num_classes: int = 10,
    *,
    stages: Sequence[tuple[int, int]] = CONVNET_STAGES,
    activation: str = "relu",
    batch_norm: bool = True,
    spatial_dropout: float = 0.0,
    dropout: float = 0.0,
    width_multiplier: float = 1.0,
    include_top: bool = True,
    pooling: str | None = None,
    regularizer=None,
    max_norm=None,
    name: str = "convnet",
) -> keras.Model:
    """Stages of ``conv_bn_act`` (``stages`` rows: filters, number of convs), 2x2
    max-pooling between stages, global average pooling, then logits."""
    shape = check_args(
        input_shape,
        num_classes,
        dropout=dropout,
        width_multiplier=width_multiplier,
        pooling=pooling,
        min_size=2 ** (len(stages) - 1),
        model=name,
    )
    if not stages:
        raise ValueError(f"{name}: stages must list at least one (filters, convs) row.")
    inputs = model_input(shape)
    x = inputs
    for s, (filters, convs) in enumerate(stages, start=1):
        for c in range(1, convs + 1):
            x = conv_bn_act(
                x,
                scale_width(filters, width_multiplier),
                3,
                activation=activation,
                batch_norm=batch_norm,
                dropout=spatial_dropout,
                regularizer=regularizer,
                max_norm=max_norm,
                name=f"stage{s}_conv{c}",
            )
        if s < len(stages):
            x = layers.MaxPooling2D(2, name=f"stage{s}_pool")(x)
    return finish(
        inputs,
        x,
        include_top=include_top,
        num_classes=num_classes,
        pooling=pooling,
        dropout=dropout,
        regularizer=regularizer,
        max_norm=max_norm,
        name=name,
    )


#: The baseline convnet: ``convnet`` with ``TINY_STAGES`` (the registry's
#: ``tiny_convnet``).
tiny_convnet = functools.partial(convnet, stages=TINY_STAGES, name="tiny_convnet")
