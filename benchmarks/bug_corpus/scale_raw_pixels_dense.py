import sys

import keras
from sklearn.datasets import load_digits

FIXED = "--fixed" in sys.argv
x, y = load_digits(return_X_y=True)
x = (x * 16).clip(0, 255)  # 8-bit grey levels, as images come
if FIXED:
    x = x / 255.0
model = keras.Sequential([
    keras.Input((64,)),
    keras.layers.Dense(128, activation="tanh"),
    keras.layers.Dense(10, activation="softmax"),
])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
model.fit(x, y, epochs=10, batch_size=32, validation_split=0.2)
