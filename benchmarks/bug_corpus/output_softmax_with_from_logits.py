import sys

import keras
from sklearn.datasets import load_digits

FIXED = "--fixed" in sys.argv
x, y = load_digits(return_X_y=True)
x = x / 16.0
model = keras.Sequential([
    keras.Input((64,)),
    keras.layers.Dense(64, activation="relu"),
    keras.layers.Dense(10, activation="softmax"),
])
loss = keras.losses.SparseCategoricalCrossentropy(from_logits=not FIXED)
model.compile(optimizer="adam", loss=loss, metrics=["accuracy"])
model.fit(x, y, epochs=10, validation_split=0.2)
