"""House prices from size, rooms and the year built (made-up data)."""
import sys

import keras
import numpy as np

FIXED = "--fixed" in sys.argv
rng = np.random.default_rng(0)
n = 1500
size = rng.normal(1.5, 0.4, n)  # thousands of square feet
rooms = rng.integers(1, 6, n).astype(float)
year = rng.integers(1950, 2021, n).astype(float)
price = 100 * size + 10 * rooms + 0.8 * (year - 1950) + rng.normal(0, 10, n)  # thousands
x = np.stack([size, rooms, year], axis=1)
y = (price - price.mean()) / price.std()
if FIXED:
    x = (x - x[:1200].mean(axis=0)) / x[:1200].std(axis=0)
model = keras.Sequential([
    keras.Input((3,)),
    keras.layers.Dense(32, activation="relu"),
    keras.layers.Dense(1),
])
model.compile(optimizer="adam", loss="mse")
model.fit(x[:1200], y[:1200], validation_data=(x[1200:], y[1200:]), epochs=50)
