import sys

import keras
from sklearn.datasets import load_digits

FIXED = "--fixed" in sys.argv
x, y = load_digits(return_X_y=True)
x = x / 16.0
init = "he_normal" if FIXED else keras.initializers.RandomNormal(stddev=1.0)
model = keras.Sequential([keras.Input((64,))])
for _ in range(6):
    model.add(keras.layers.Dense(256, activation="relu", kernel_initializer=init))
model.add(keras.layers.Dense(10, activation="softmax"))
model.compile(optimizer=keras.optimizers.SGD(0.01), loss="sparse_categorical_crossentropy",
              metrics=["accuracy"])
model.fit(x, y, epochs=10, validation_split=0.2)
