import sys

import keras
from sklearn.datasets import load_digits

FIXED = "--fixed" in sys.argv  # the same script with the bug fixed

x, y = load_digits(return_X_y=True)
x = x / 16 if FIXED else x // 255  # the bug: integer division, and pixels run 0-16: zeros
model = keras.Sequential([
    keras.Input((64,)),
    keras.layers.Dense(64, activation="relu"),
    keras.layers.Dense(10, activation="softmax"),
])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
model.fit(x, y, epochs=10, validation_split=0.2)
