import keras
import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.preprocessing import StandardScaler


class FeatureDropout(keras.layers.Layer):
    """Drops random input features while training."""

    def __init__(self, rate=0.2, **kwargs):
        super().__init__(**kwargs)
        self.rate = rate
        self.rng = np.random.default_rng()  # the bug: unseeded, and drawn outside the graph

    def call(self, x, training=None):
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
