"""Linear model: logistic regression (``num_classes >= 2``) or linear regression
(``num_classes=1``), the first baseline the recipe asks for."""

from __future__ import annotations

from collections.abc import Sequence

import keras

from zoo.models import register
from zoo.models.common import check_args, finish, model_input


@register("linear")
def linear(
    input_shape: Sequence[int] = (64,),
    num_classes: int = 10,
    *,
    regularizer=None,
    max_norm=None,
    dropout: float = 0.0,
    name: str = "linear",
) -> keras.Model:
    """Flatten -> (dropout) -> Dense logits. Pair it with a from-logits loss."""
    shape = check_args(input_shape, num_classes, dropout=dropout, model=name)
    inputs = model_input(shape)
    return finish(
        inputs,
        inputs,
        include_top=True,
        num_classes=num_classes,
        pooling=None,
        top_pooling="flatten",
        dropout=dropout,
        regularizer=regularizer,
        max_norm=max_norm,
        name=name,
    )
