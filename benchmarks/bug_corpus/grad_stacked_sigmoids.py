import sys

import keras
from sklearn.datasets import load_digits

FIXED = "--fixed" in sys.argv
x, y = load_digits(return_X_y=True)
x = x / 16.0
act, init = ("relu", "he_normal") if FIXED else ("sigmoid", "glorot_uniform")
model = keras.Sequential([keras.Input((64,))])
for _ in range(8):
    model.add(keras.layers.Dense(64, activation=act, kernel_initializer=init))
model.add(keras.layers.Dense(10, activation="softmax"))
model.compile(optimizer=keras.optimizers.SGD(0.05), loss="sparse_categorical_crossentropy",
              metrics=["accuracy"])
model.fit(x, y, epochs=20, validation_split=0.2)
