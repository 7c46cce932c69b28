import sys

import keras
from keras import ops
from sklearn.datasets import load_digits

FIXED = "--fixed" in sys.argv  # the same script with the bug fixed


class StableCrossentropy(keras.losses.SparseCategoricalCrossentropy):
    def call(self, y_true, y_pred):
        # the bug: the loss clipped "to keep it from exploding" (meant: clip the gradients)
        return ops.minimum(super().call(y_true, y_pred), 1.0)


x, y = load_digits(return_X_y=True)
x = x / 16.0
model = keras.Sequential([
    keras.Input((64,)),
    keras.layers.Dense(64, activation="relu"),
    keras.layers.Dense(10, activation="softmax"),
])
model.compile(optimizer=keras.optimizers.Adam(clipnorm=1.0) if FIXED else "adam",
              loss="sparse_categorical_crossentropy" if FIXED else StableCrossentropy(),
              metrics=["accuracy"])
model.fit(x, y, epochs=10, validation_split=0.2)
