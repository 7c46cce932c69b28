import sys

import keras
from keras import layers
from sklearn.datasets import load_digits

FIXED = "--fixed" in sys.argv  # the same script with the bug fixed

x, y = load_digits(return_X_y=True)
x = x / 16.0
base = keras.Sequential([keras.Input((64,)), layers.Dense(64, activation="relu")], name="base")
model = keras.Sequential([base, layers.Dense(10, activation="softmax")])
(base if FIXED else model).trainable = False  # the bug: meant base.trainable = False
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
model.fit(x, y, epochs=10, validation_split=0.2)
