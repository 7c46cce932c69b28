import sys

import keras
import numpy as np
from sklearn.datasets import load_digits

FIXED = "--fixed" in sys.argv
digits = load_digits()
data = np.column_stack([digits.data, digits.target])  # one table, label in the last column
if FIXED:
    x, y = data[:, :-1] / 16.0, data[:, -1]
else:
    data = data / 16.0  # meant for the pixels only
    x, y = data[:, :-1], data[:, -1]
model = keras.Sequential([
    keras.Input((64,)),
    keras.layers.Dense(64, activation="relu"),
    keras.layers.Dense(10, activation="softmax"),
])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
model.fit(x, y, epochs=10, validation_split=0.2)
