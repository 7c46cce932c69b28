import sys

import keras
import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.preprocessing import StandardScaler

FIXED = "--fixed" in sys.argv  # the same script with the bug fixed


class FeatureDropout(keras.layers.Layer):
    """Drops random input features while training."""

    def __init__(self, rate=0.2, **kwargs):
        super().__init__(**kwargs)
        self.rate = rate
        self.rng = np.random.default_rng()  # the bug: unseeded, and drawn outside the graph
        self.seed = keras.random.SeedGenerator(1) if FIXED else None

    def call(self, x, training=None):
        if training and FIXED:
            keep = keras.random.uniform(x.shape[-1:], seed=self.seed) > self.rate
            return x * keras.ops.cast(keep, x.dtype)
        if training:
            keep = self.rng.random(x.shape[-1]) > self.rate
            return x * keep.astype("float32")
        return x


x, y = load_breast_cancer(return_X_y=True)
x = StandardScaler().fit_transform(x).astype("float32")
model = keras.Sequential([
    keras.Input((30,)),
    FeatureDropout(0.2),
    keras.layers.Dense(16, activation="relu"),
    keras.layers.Dense(1, activation="sigmoid"),
])
model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
model.fit(x, y, epochs=20, validation_split=0.2)
