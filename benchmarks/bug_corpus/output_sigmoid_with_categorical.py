import sys

import keras
from sklearn.datasets import load_digits

FIXED = "--fixed" in sys.argv
x, y = load_digits(return_X_y=True)
x = x / 16.0
model = keras.Sequential([
    keras.Input((64,)),
    keras.layers.Dense(64, activation="relu"),
    keras.layers.Dense(10, activation="softmax" if FIXED else "sigmoid"),
])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
model.fit(x, y, epochs=10, validation_split=0.2)
