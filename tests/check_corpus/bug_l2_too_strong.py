import sys

import keras
from keras import regularizers
from sklearn.datasets import load_digits

FIXED = "--fixed" in sys.argv  # the same script with the bug fixed

x, y = load_digits(return_X_y=True)
x = x / 16.0
reg = regularizers.l2(1e-3 if FIXED else 1.0)  # the bug: a weight decay 1000 times too strong
model = keras.Sequential([
    keras.Input((64,)),
    keras.layers.Dense(64, activation="relu", kernel_regularizer=reg),
    keras.layers.Dense(10, activation="softmax", kernel_regularizer=reg),
])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
model.fit(x, y, epochs=20, validation_split=0.2)
