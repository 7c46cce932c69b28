import sys

import keras
import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.preprocessing import StandardScaler

FIXED = "--fixed" in sys.argv  # the same script with the bug fixed

x, y = load_breast_cancer(return_X_y=True)
x = StandardScaler().fit_transform(x)
order = np.random.default_rng(0).permutation(len(y))
x, y = (x[order], y[order]) if FIXED else (x, y[order])  # the bug: labels shuffled alone
model = keras.Sequential([keras.Input((30,)), keras.layers.Dense(16, activation="relu"),
                          keras.layers.Dense(1, activation="sigmoid")])
model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
model.fit(x, y, epochs=20, validation_split=0.2)
