import sys

import keras
from keras import layers
from sklearn.datasets import load_diabetes

FIXED = "--fixed" in sys.argv
x, y = load_diabetes(return_X_y=True, scaled=False)  # raw measurements (age, bmi, bp, ...)
y = (y - y.mean()) / y.std()
first = []
if FIXED:
    norm = layers.Normalization()
    norm.adapt(x[:350])
    first = [norm]
model = keras.Sequential([
    keras.Input((10,)),
    *first,
    layers.Dense(64, activation="relu"),
    layers.Dense(64, activation="relu"),
    layers.Dense(1),
])
model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse", metrics=["mae"])
model.fit(x[:350], y[:350], validation_data=(x[350:], y[350:]), epochs=100)
