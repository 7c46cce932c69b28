"""Multi-layer perceptron for tabular data (or flattened images)."""

from __future__ import annotations

from collections.abc import Sequence

import keras

from zoo.blocks import check_activation, mlp_head, scale_width
from zoo.models import register
from zoo.models.common import check_args, model_input


@register("mlp")
def mlp(
    input_shape: Sequence[int] = (64,),
    num_classes: int = 10,
    *,
    hidden: Sequence[int] = (256, 128),
    activation: str = "relu",
    batch_norm: bool = False,
    dropout: float = 0.0,
    width_multiplier: float = 1.0,
    regularizer=None,
    max_norm=None,
    name: str = "mlp",
) -> keras.Model:
    """Flatten -> ``dense_block`` per width in ``hidden`` (each followed by ``dropout``)
    -> Dense logits. ``activation`` may be ``"maxout"`` (two pieces per unit)."""
    shape = check_args(
        input_shape, num_classes, dropout=dropout, width_multiplier=width_multiplier, model=name
    )
    check_activation(activation)
    inputs = model_input(shape)
    outputs = mlp_head(
        inputs,
        num_classes,
        hidden=[scale_width(w, width_multiplier) for w in hidden],
        pooling="flatten",
        dropout=dropout,
        activation=activation,
        batch_norm=batch_norm,
        regularizer=regularizer,
        max_norm=max_norm,
        name="head",
    )
    return keras.Model(inputs, outputs, name=name)
