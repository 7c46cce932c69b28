import sys

import keras
from keras import layers
from sklearn.datasets import load_digits

FIXED = "--fixed" in sys.argv
x, y = load_digits(return_X_y=True)
x = (x * 16).clip(0, 255).reshape(-1, 8, 8, 1)  # 8-bit grey images
model = keras.Sequential([
    keras.Input((8, 8, 1)),
    *([layers.Rescaling(1.0 / 255)] if FIXED else []),
    layers.Conv2D(32, 3, activation="relu", padding="same"),
    layers.MaxPooling2D(),
    layers.Conv2D(64, 3, activation="relu", padding="same"),
    layers.Flatten(),
    layers.Dense(10, activation="softmax"),
])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
model.fit(x, y, epochs=5, validation_split=0.1)
