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
# the bug: a weight-decay value typed into the learning rate
model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3 if FIXED else 1e-7),
              loss="sparse_categorical_crossentropy", metrics=["accuracy"])
model.fit(x, y, epochs=20, validation_split=0.2)
