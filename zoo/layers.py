"""The few layers of zoo's own, and the fused BatchNormalization speed-up.

Nothing here reaches a saved file where a stock Keras layer can do the job: the
registered models are stock layers only (``zoo.blocks`` builds the option-A shortcut
from them, and TensorFlow's fused batch norm is attached to stock
``BatchNormalization`` layers at run time). ``Maxout`` has no stock equivalent: a file
holding it loads after ``import zoo`` (``zoo.load_model``). ``BatchNorm`` and
``ZeroPadShortcut`` stay registered: files written by earlier versions of zoo hold them.
"""

from __future__ import annotations

import types

import keras
from keras import layers, ops


def fuse_batch_norm(layer):
    """Make a ``BatchNormalization`` layer run as one fused kernel on TensorFlow;
    returns the layer (unchanged on other backends and for other layers).

    Keras 3 normalizes with separate ops (moments, then arithmetic, with float32 casts
    around each under mixed precision), so its backward pass is a long chain of
    elementwise ops; on a CPU that chain costs about as much as the convolutions of a
    small ResNet. On the TensorFlow backend, 4-D channels-last inputs (the conv blocks)
    go through TensorFlow's fused batch norm instead, whose gradient is one kernel too,
    and whose inference form the graph optimizer folds into the preceding conv.

    Only this layer object's ``call`` changes: its class, config, weights and results
    stay Keras' (the moving variance is updated with the biased batch variance, as
    Keras does), so a saved model holds a stock layer that any Keras loads, and a
    loaded one is fused again by ``zoo.load_model``. Other ranks and the options the
    fused kernel lacks (masks, renorm, synchronized, another axis) take Keras' path.
    """
    if keras.backend.backend() == "tensorflow" and isinstance(
        layer, layers.BatchNormalization
    ):
        layer.call = types.MethodType(_fused_call, layer)
    return layer


def fuse_batch_norms(model) -> int:
    """``fuse_batch_norm`` on every BatchNormalization layer of ``model`` (nested
    models too); returns how many were fused (0 off TensorFlow)."""
    if keras.backend.backend() != "tensorflow":
        return 0
    count = 0
    # Keras' own walk over nested layers (what ``model.summary(expand_nested)`` uses)
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if isinstance(layer, layers.BatchNormalization) and not _is_fused(layer):
            fuse_batch_norm(layer)
            count += 1
    return count


def _is_fused(layer) -> bool:
    return getattr(layer.call, "__func__", None) is _fused_call


def _fusable(layer, inputs, mask) -> bool:
    return (
        keras.backend.backend() == "tensorflow"
        and mask is None
        and len(inputs.shape) == 4
        and layer.axis in (-1, 3)
        and not layer.renorm
        and not layer.synchronized
        and layer.scale
        and layer.center
    )


def _fused_call(self, inputs, training=None, mask=None):
    if not _fusable(self, inputs, mask):
        return layers.BatchNormalization.call(self, inputs, training=training, mask=mask)
    import tensorflow as tf

    dtype = inputs.dtype
    if dtype not in (tf.float32, tf.bfloat16, tf.float16):
        inputs = tf.cast(inputs, tf.float32)
    gamma = tf.cast(self.gamma, tf.float32)
    beta = tf.cast(self.beta, tf.float32)
    moving_mean = tf.cast(self.moving_mean, tf.float32)
    moving_var = tf.cast(self.moving_variance, tf.float32)
    if training and self.trainable:
        outputs, mean, variance = tf.compat.v1.nn.fused_batch_norm(
            inputs, gamma, beta, epsilon=self.epsilon, is_training=True
        )
        # The fused kernel returns the unbiased (n / (n - 1)) variance; Keras keeps
        # the biased one in its moving average.
        n = tf.cast(tf.size(inputs) // tf.shape(inputs)[-1], tf.float32)
        variance = variance * tf.maximum(n - 1.0, 0.0) / tf.maximum(n, 1.0)
        self.moving_mean.assign(moving_mean * self.momentum + mean * (1.0 - self.momentum))
        self.moving_variance.assign(moving_var * self.momentum + variance * (1.0 - self.momentum))
    else:
        outputs, _, _ = tf.compat.v1.nn.fused_batch_norm(
            inputs,
            gamma,
            beta,
            mean=moving_mean,
            variance=moving_var,
            epsilon=self.epsilon,
            is_training=False,
        )
    return tf.cast(outputs, self.compute_dtype)


@keras.saving.register_keras_serializable(package="zoo")
class BatchNorm(layers.BatchNormalization):
    """The fused BatchNormalization subclass that files saved by earlier versions of
    zoo hold; kept so that they still load (through ``zoo.load_model``). New models
    use stock layers (``zoo.blocks.batch_norm_layer``)."""

    call = _fused_call


@keras.saving.register_keras_serializable(package="zoo")
class Maxout(layers.Layer):
    """Maxout (Goodfellow et al. 2013): the max over ``num_pieces`` groups of the last axis.

    The input's last axis has ``units * num_pieces`` features; the output has ``units``.
    """

    def __init__(self, num_pieces: int = 2, **kwargs):
        super().__init__(**kwargs)
        if int(num_pieces) < 1:
            raise ValueError(f"Maxout num_pieces={num_pieces!r} must be an integer >= 1.")
        self.num_pieces = int(num_pieces)

    def _units(self, channels):
        if channels is None or channels % self.num_pieces:
            raise ValueError(
                f"Maxout({self.num_pieces}) needs a last axis divisible by {self.num_pieces}; "
                f"got {channels}. Give the previous layer units * num_pieces outputs."
            )
        return channels // self.num_pieces

    def call(self, inputs):
        units = self._units(inputs.shape[-1])
        shape = ops.shape(inputs)
        pieces = ops.reshape(inputs, (*shape[:-1], units, self.num_pieces))
        return ops.max(pieces, axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self._units(input_shape[-1]))

    def get_config(self):
        return {**super().get_config(), "num_pieces": self.num_pieces}


@keras.saving.register_keras_serializable(package="zoo")
class ZeroPadShortcut(layers.Layer):
    """Parameter-free shortcut of He et al. 2015 (option A): subsample by ``strides`` and
    zero-pad the channel axis up to ``filters`` (half the padding on each side). Models
    use ``zero_pad_shortcut``, made of stock layers, wherever the image size is known;
    this layer serves the rest and the files saved by earlier versions of zoo."""

    def __init__(self, filters: int, strides: int = 1, **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.strides = int(strides)

    def call(self, inputs):
        x = inputs[:, :: self.strides, :: self.strides, :] if self.strides > 1 else inputs
        extra = self.filters - inputs.shape[-1]
        if extra < 0:
            raise ValueError(
                f"ZeroPadShortcut cannot shrink {inputs.shape[-1]} channels to {self.filters}; "
                "use a projection shortcut."
            )
        if extra:
            x = ops.pad(x, [[0, 0], [0, 0], [0, 0], [extra // 2, extra - extra // 2]])
        return x

    def compute_output_shape(self, input_shape):
        def sub(n):
            return None if n is None else -(-n // self.strides)

        return (input_shape[0], sub(input_shape[1]), sub(input_shape[2]), self.filters)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "strides": self.strides}
