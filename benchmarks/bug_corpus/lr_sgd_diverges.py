import sys

import keras
from sklearn.datasets import load_diabetes

FIXED = "--fixed" in sys.argv
x, y = load_diabetes(return_X_y=True)
y = (y - y.mean()) / y.std()
x = x / x.std(axis=0)
model = keras.Sequential([
    keras.Input((10,)),
    keras.layers.Dense(64, activation="relu"),
    keras.layers.Dense(1),
])
model.compile(optimizer=keras.optimizers.SGD(0.01 if FIXED else 3.0), loss="mse")
model.fit(x, y, epochs=50, validation_split=0.2)
