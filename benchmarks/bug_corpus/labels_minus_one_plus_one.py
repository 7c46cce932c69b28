import sys

import keras
import numpy as np

FIXED = "--fixed" in sys.argv
rng = np.random.default_rng(0)
x = rng.normal(size=(1000, 8))
y = np.where(x[:, 0] + 0.5 * x[:, 1] > 0, 1, -1)  # labels as an SVM takes them
if FIXED:
    y = (y + 1) // 2
model = keras.Sequential([
    keras.Input((8,)),
    keras.layers.Dense(16, activation="relu"),
    keras.layers.Dense(1, activation="sigmoid"),
])
model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
model.fit(x, y, epochs=20, validation_split=0.2)
