"""Building blocks: small functions on Keras tensors that every zoo model is made of.

Each block names every layer it creates from its ``name`` argument, so weights load by
name across versions, and takes one ``regularizer`` (None, a Keras regularizer, or a
spec such as ``"l2:1e-4"``) plus an optional ``max_norm`` constraint, both applied to
kernels only. Conv and Dense layers directly followed by BatchNormalization have no
bias. BatchNormalization uses PyTorch's momentum and epsilon (0.9 and 1e-5 in Keras
terms) so that statistics settle within the few hundred steps small data sets give.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import layers

from zoo.layers import (  # noqa: F401  (BatchNorm, fuse_batch_norms: zoo.blocks names too)
    BatchNorm,
    Maxout,
    ZeroPadShortcut,
    fuse_batch_norm,
    fuse_batch_norms,
)

BN_MOMENTUM = 0.9
BN_EPSILON = 1e-5

ACTIVATIONS = (
    "relu",
    "leaky_relu",
    "sigmoid",
    "tanh",
    "softmax",
    "gelu",
    "elu",
    "selu",
    "silu",
    "linear",
    "maxout",
)

_REGULARIZER_FORMS = (
    'None, a keras.regularizers.Regularizer, or a string "l1:1e-5", "l2:1e-4" '
    'or "l1l2:1e-5,1e-4" (L1 strength, then L2 strength)'
)


# --------------------------------------------------------------------------- helpers
def get_regularizer(spec: str | keras.regularizers.Regularizer | None):
    """Turn a regularizer spec into a Keras regularizer (or None).

    Accepted: None, a ``keras.regularizers.Regularizer``, ``"l1:1e-5"``, ``"l2:1e-4"``,
    ``"l1l2:1e-5,1e-4"``. Anything else raises ``ValueError`` naming the accepted forms.
    """
    if spec is None or isinstance(spec, keras.regularizers.Regularizer):
        return spec
    if not isinstance(spec, str):
        raise ValueError(f"regularizer={spec!r} is not understood; use {_REGULARIZER_FORMS}.")
    kind, _, values = spec.strip().lower().partition(":")
    try:
        numbers = [float(v) for v in values.split(",")] if values else []
    except ValueError:
        numbers = None
    expected = {"l1": 1, "l2": 1, "l1l2": 2}.get(kind)
    if expected is None or numbers is None or len(numbers) != expected:
        raise ValueError(f"regularizer={spec!r} is not understood; use {_REGULARIZER_FORMS}.")
    if any(n < 0 for n in numbers):
        raise ValueError(f"regularizer={spec!r} has a negative strength; strengths are >= 0.")
    if kind == "l1":
        return keras.regularizers.L1(numbers[0])
    if kind == "l2":
        return keras.regularizers.L2(numbers[0])
    return keras.regularizers.L1L2(l1=numbers[0], l2=numbers[1])


def get_constraint(max_norm: float | keras.constraints.Constraint | None):
    """A max-norm kernel constraint from a number (or a ready Keras constraint)."""
    if max_norm is None or isinstance(max_norm, keras.constraints.Constraint):
        return max_norm
    if isinstance(max_norm, bool) or not isinstance(max_norm, int | float) or max_norm <= 0:
        raise ValueError(
            f"max_norm={max_norm!r} must be a positive number (the largest allowed L2 norm "
            "of each unit's incoming weights), a keras constraint, or None."
        )
    return keras.constraints.MaxNorm(float(max_norm))


def check_activation(activation: str | None) -> str:
    """Return the activation name, or raise ``ValueError`` listing the accepted names."""
    name = "linear" if activation is None else activation
    if name == "swish":
        name = "silu"
    if name not in ACTIVATIONS:
        raise ValueError(
            f"activation={activation!r} is not one of the accepted names: {', '.join(ACTIVATIONS)}."
        )
    return name


def activation_layer(activation: str | None, name: str):
    """An Activation layer for a checked activation name (``maxout`` is not a layer-wise
    activation here: use ``dense_block(..., activation="maxout")``)."""
    activation = check_activation(activation)
    if activation == "maxout":
        raise ValueError(
            'activation="maxout" needs the pieces of the previous layer; use it in '
            "dense_block(...) or add a Maxout layer after a layer with units * pieces outputs."
        )
    return layers.Activation(activation, name=name)


def scale_width(filters: int, width_multiplier: float) -> int:
    """``filters * width_multiplier``, rounded, at least 1."""
    return max(1, int(round(filters * width_multiplier)))


# --------------------------------------------------------------------------- layers
def batch_norm_layer(*, name: str, zero_gamma: bool = False):
    """A stock ``keras.layers.BatchNormalization`` with zoo's momentum and epsilon,
    running as one fused kernel on TensorFlow (``fuse_batch_norm``)."""
    layer = layers.BatchNormalization(
        momentum=BN_MOMENTUM,
        epsilon=BN_EPSILON,
        gamma_initializer="zeros" if zero_gamma else "ones",
        name=name,
    )
    return fuse_batch_norm(layer)


# --------------------------------------------------------------------------- blocks
def zero_pad_shortcut(x, filters: int, strides: int = 1, *, name: str):
    """The parameter-free shortcut of He et al. 2015 (option A) in stock Keras layers,
    so that a saved model needs no zoo to load: subsample by ``strides`` (a 1x1 max
    pool, which keeps every ``strides``-th pixel) and zero-pad the channel axis up to
    ``filters``, half the padding on each side (reshaped to 5-D, where
    ``ZeroPadding3D`` pads the last spatial axis). Inputs of unknown height or width
    use the ``ZeroPadShortcut`` layer instead. Layers: ``{name}_subsample``,
    ``{name}_split``, ``{name}_pad``, ``{name}``."""
    channels = x.shape[-1]
    extra = filters - channels
    if extra < 0:
        raise ValueError(
            f"zero_pad_shortcut cannot shrink {channels} channels to {filters}; "
            "use a projection shortcut."
        )
    height, width = x.shape[1], x.shape[2]
    if height is None or width is None:
        return ZeroPadShortcut(filters, strides, name=name)(x)
    if strides > 1:
        x = layers.MaxPooling2D(1, strides, name=f"{name}_subsample")(x)
        height, width = -(-height // strides), -(-width // strides)
    if not extra:
        return x
    x = layers.Reshape((height, width, channels, 1), name=f"{name}_split")(x)
    x = layers.ZeroPadding3D(
        ((0, 0), (0, 0), (extra // 2, extra - extra // 2)),
        data_format="channels_last",
        name=f"{name}_pad",
    )(x)
    return layers.Reshape((height, width, filters), name=name)(x)


def conv_bn_act(
    x,
    filters: int,
    kernel_size: int = 3,
    strides: int = 1,
    *,
    activation: str | None = "relu",
    batch_norm: bool = True,
    preactivation: bool = False,
    dropout: float = 0.0,
    zero_gamma: bool = False,
    regularizer=None,
    max_norm=None,
    name: str,
):
    """Conv2D -> BatchNormalization -> activation (or, with ``preactivation=True``,
    BatchNormalization -> activation -> Conv2D, the order of He et al. 2016b).

    The conv has no bias when a BatchNormalization follows it. Strided convs pad
    ``kernel_size // 2`` on every side explicitly (as PyTorch does) rather than Keras'
    asymmetric "same", so shapes match "same" and weights port from torchvision.
    ``dropout`` adds SpatialDropout2D (whole feature maps) at the end; ``zero_gamma``
    starts the BN scale at zero (used to make residual blocks begin as the identity).
    Layers: ``{name}_conv``, ``{name}_bn``, ``{name}_act``, ``{name}_pad``, ``{name}_drop``.
    """
    if activation is not None:
        check_activation(activation)
    if preactivation:
        if batch_norm:
            x = batch_norm_layer(name=f"{name}_bn")(x)
        if activation not in (None, "linear"):
            x = activation_layer(activation, f"{name}_act")(x)
    padding = "same"
    if strides > 1 and kernel_size > 1:
        x = layers.ZeroPadding2D(kernel_size // 2, name=f"{name}_pad")(x)
        padding = "valid"
    x = layers.Conv2D(
        filters,
        kernel_size,
        strides=strides,
        padding=padding,
        use_bias=not (batch_norm and not preactivation),
        kernel_initializer="he_normal",
        kernel_regularizer=get_regularizer(regularizer),
        kernel_constraint=get_constraint(max_norm),
        name=f"{name}_conv",
    )(x)
    if not preactivation:
        if batch_norm:
            x = batch_norm_layer(name=f"{name}_bn", zero_gamma=zero_gamma)(x)
        if activation not in (None, "linear"):
            x = activation_layer(activation, f"{name}_act")(x)
    if dropout:
        x = layers.SpatialDropout2D(dropout, name=f"{name}_drop")(x)
    return x


def dense_block(
    x,
    units: int,
    *,
    activation: str | None = "relu",
    batch_norm: bool = False,
    dropout: float = 0.0,
    maxout_pieces: int = 2,
    regularizer=None,
    max_norm=None,
    name: str,
):
    """Dense -> optional BatchNormalization -> activation -> optional Dropout.

    ``activation="maxout"`` makes the Dense ``units * maxout_pieces`` wide and adds a
    ``Maxout`` layer. Layers: ``{name}_dense``, ``{name}_bn``, ``{name}_act``, ``{name}_drop``.
    """
    activation = check_activation(activation)
    width = units * maxout_pieces if activation == "maxout" else units
    x = layers.Dense(
        width,
        use_bias=not batch_norm,
        kernel_initializer="he_normal" if activation != "linear" else "glorot_uniform",
        kernel_regularizer=get_regularizer(regularizer),
        kernel_constraint=get_constraint(max_norm),
        name=f"{name}_dense",
    )(x)
    if batch_norm:
        x = batch_norm_layer(name=f"{name}_bn")(x)
    if activation == "maxout":
        x = Maxout(maxout_pieces, name=f"{name}_act")(x)
    elif activation != "linear":
        x = activation_layer(activation, f"{name}_act")(x)
    if dropout:
        x = layers.Dropout(dropout, name=f"{name}_drop")(x)
    return x


def pool_features(x, pooling: str | None, *, name: str):
    """Reduce image features to a vector: ``"avg"`` / ``"max"`` global pooling,
    ``"flatten"``, or None (left as is)."""
    if pooling is None:
        return x
    if len(x.shape) == 2:
        return x
    if pooling == "avg":
        return layers.GlobalAveragePooling2D(name=f"{name}_avg_pool")(x)
    if pooling == "max":
        return layers.GlobalMaxPooling2D(name=f"{name}_max_pool")(x)
    if pooling == "flatten":
        return layers.Flatten(name=f"{name}_flatten")(x)
    raise ValueError(f'pooling={pooling!r} must be "avg", "max", "flatten" or None.')


def logits_layer(x, num_classes: int, *, regularizer=None, max_norm=None, name: str):
    """The final Dense that outputs logits (or the regression value for
    ``num_classes=1``). It computes in float32 even under a mixed-precision policy.

    Its kernel starts small (normal, std 0.01), so the logits start near zero and the
    loss at initialization is what it should be: log(C) for C balanced classes.
    """
    return layers.Dense(
        num_classes,
        kernel_initializer=keras.initializers.RandomNormal(stddev=0.01),
        kernel_regularizer=get_regularizer(regularizer),
        kernel_constraint=get_constraint(max_norm),
        dtype="float32",
        name=name,
    )(x)


def mlp_head(
    x,
    num_classes: int,
    *,
    hidden: Sequence[int] = (),
    pooling: str | None = "avg",
    dropout: float = 0.0,
    activation: str = "relu",
    batch_norm: bool = False,
    regularizer=None,
    max_norm=None,
    name: str = "head",
):
    """Pooling or flatten, then hidden ``dense_block``s (each with ``dropout``), then
    logits. With no hidden layers, ``dropout`` is applied once before the logits.
    Layers: ``{name}_avg_pool`` / ``{name}_flatten``, ``{name}_fc{i}_*``, ``{name}_logits``.
    """
    x = pool_features(x, pooling, name=name)
    for i, units in enumerate(hidden, start=1):
        x = dense_block(
            x,
            units,
            activation=activation,
            batch_norm=batch_norm,
            dropout=dropout,
            regularizer=regularizer,
            max_norm=max_norm,
            name=f"{name}_fc{i}",
        )
    if not hidden and dropout:
        x = layers.Dropout(dropout, name=f"{name}_drop")(x)
    return logits_layer(
        x, num_classes, regularizer=regularizer, max_norm=max_norm, name=f"{name}_logits"
    )


def _shortcut(x, filters: int, strides: int, kind: str, *, regularizer, max_norm, name: str):
    """Identity when shapes agree; else a 1x1 conv + BN (``"projection"``, option B) or
    a parameter-free subsample and zero padding (``"zero_pad"``, option A)."""
    if kind not in ("projection", "zero_pad"):
        raise ValueError(f'shortcut={kind!r} must be "projection" or "zero_pad".')
    if strides == 1 and x.shape[-1] == filters:
        return x
    if kind == "zero_pad":
        return zero_pad_shortcut(x, filters, strides, name=f"{name}_shortcut")
    return conv_bn_act(
        x,
        filters,
        1,
        strides,
        activation=None,
        regularizer=regularizer,
        max_norm=max_norm,
        name=f"{name}_shortcut",
    )


def basic_block(
    x,
    filters: int,
    strides: int = 1,
    *,
    shortcut: str = "projection",
    preactivation: bool = False,
    regularizer=None,
    max_norm=None,
    zero_init_residual: bool = False,
    name: str,
):
    """Two 3x3 conv-BN layers with a shortcut (He et al. 2015, ResNet-18/34 and CIFAR).

    ``preactivation=True`` gives the BN-ReLU-conv order of He et al. 2016b.
    ``zero_init_residual`` starts the last BN's scale at zero, so the block begins as
    the identity. Layers: ``{name}_1_*``, ``{name}_2_*``, ``{name}_shortcut*``,
    ``{name}_add``, ``{name}_out``.
    """
    kw = dict(regularizer=regularizer, max_norm=max_norm)
    if preactivation:
        pre = batch_norm_layer(name=f"{name}_preact_bn")(x)
        pre = layers.Activation("relu", name=f"{name}_preact_act")(pre)
        short = _shortcut(pre, filters, strides, shortcut, name=name, **kw)
        if short is pre:
            short = x
        y = conv_bn_act(pre, filters, 3, strides, **kw, name=f"{name}_1")
        y = layers.Conv2D(
            filters,
            3,
            padding="same",
            use_bias=False,
            kernel_initializer="he_normal",
            kernel_regularizer=get_regularizer(regularizer),
            kernel_constraint=get_constraint(max_norm),
            name=f"{name}_2_conv",
        )(y)
        return layers.Add(name=f"{name}_add")([short, y])
    short = _shortcut(x, filters, strides, shortcut, name=name, **kw)
    y = conv_bn_act(x, filters, 3, strides, **kw, name=f"{name}_1")
    y = conv_bn_act(
        y, filters, 3, 1, activation=None, zero_gamma=zero_init_residual, **kw, name=f"{name}_2"
    )
    y = layers.Add(name=f"{name}_add")([short, y])
    return layers.Activation("relu", name=f"{name}_out")(y)


def bottleneck_block(
    x,
    filters: int,
    strides: int = 1,
    *,
    expansion: int = 4,
    shortcut: str = "projection",
    regularizer=None,
    max_norm=None,
    zero_init_residual: bool = False,
    name: str,
):
    """1x1 reduce -> 3x3 (carrying the stride, "ResNet v1.5" as in torchvision) ->
    1x1 expand to ``filters * expansion``, each conv-BN, with a shortcut.
    Layers: ``{name}_1_*``, ``{name}_2_*``, ``{name}_3_*``, ``{name}_shortcut*``,
    ``{name}_add``, ``{name}_out``.
    """
    kw = dict(regularizer=regularizer, max_norm=max_norm)
    out_filters = filters * expansion
    short = _shortcut(x, out_filters, strides, shortcut, name=name, **kw)
    y = conv_bn_act(x, filters, 1, 1, **kw, name=f"{name}_1")
    y = conv_bn_act(y, filters, 3, strides, **kw, name=f"{name}_2")
    y = conv_bn_act(
        y,
        out_filters,
        1,
        1,
        activation=None,
        zero_gamma=zero_init_residual,
        **kw,
        name=f"{name}_3",
    )
    y = layers.Add(name=f"{name}_add")([short, y])
    return layers.Activation("relu", name=f"{name}_out")(y)
