"""What every zoo model shares: argument checks, the input layer and the top."""

from __future__ import annotations

from collections.abc import Sequence

import keras

from zoo.blocks import mlp_head, pool_features


def check_args(
    input_shape: Sequence[int],
    num_classes: int,
    *,
    dropout: float = 0.0,
    width_multiplier: float = 1.0,
    pooling: str | None = None,
    min_size: int | None = None,
    model: str,
) -> tuple[int, ...]:
    """Validate the arguments all models take; return ``input_shape`` as a tuple."""
    try:
        shape = tuple(int(d) for d in input_shape)
    except (TypeError, ValueError):
        raise ValueError(
            f"{model}: input_shape={input_shape!r} must be a sequence of positive integers, "
            "e.g. (32, 32, 3)."
        ) from None
    if not shape or any(d <= 0 for d in shape):
        raise ValueError(f"{model}: input_shape={input_shape!r} must have positive sizes.")
    if min_size is not None:
        if len(shape) != 3:
            raise ValueError(
                f"{model}: input_shape={input_shape!r} must be (height, width, channels)."
            )
        if min(shape[:2]) < min_size:
            raise ValueError(
                f"{model}: input_shape={input_shape!r} is too small; height and width must be "
                f"at least {min_size} for this architecture. Resize the images or pick a "
                "model for small inputs (convnet, cifar_resnet20)."
            )
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(
            f"{model}: num_classes={num_classes!r} must be an integer >= 1 "
            "(1 for regression or a single binary logit)."
        )
    if not 0.0 <= float(dropout) < 1.0:
        raise ValueError(f"{model}: dropout={dropout!r} must be in [0, 1).")
    if not float(width_multiplier) > 0:
        raise ValueError(f"{model}: width_multiplier={width_multiplier!r} must be > 0.")
    if pooling not in (None, "avg", "max", "flatten"):
        raise ValueError(f'{model}: pooling={pooling!r} must be "avg", "max", "flatten" or None.')
    return shape


def model_input(shape: tuple[int, ...]):
    return keras.Input(shape=shape, name="inputs")


def finish(
    inputs,
    features,
    *,
    include_top: bool,
    num_classes: int,
    pooling: str | None,
    top_pooling: str | None = "avg",
    hidden: Sequence[int] = (),
    dropout: float = 0.0,
    regularizer=None,
    max_norm=None,
    name: str,
) -> keras.Model:
    """Add the classifier (``include_top``) or the feature pooling, and make the Model.

    With the top, the output is logits of size ``num_classes`` (float32 even under a
    mixed-precision policy). Without it, the features are pooled by ``pooling``.
    """
    if include_top:
        outputs = mlp_head(
            features,
            num_classes,
            hidden=hidden,
            pooling=top_pooling,
            dropout=dropout,
            regularizer=regularizer,
            max_norm=max_norm,
            name="head",
        )
    else:
        outputs = pool_features(features, pooling, name="features")
    return keras.Model(inputs, outputs, name=name)
