import keras
import numpy as np
from sklearn.datasets import load_iris
from sklearn.preprocessing import StandardScaler

x, y = load_iris(return_X_y=True)
x = StandardScaler().fit_transform(x)


def batches():
    rng = np.random.default_rng(0)
    while True:
        idx = rng.choice(len(x), 16)
        yield x[idx], y[idx]


model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(16, activation="relu"),
                          keras.layers.Dense(3, activation="softmax")])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
model.fit(batches(), steps_per_epoch=10, epochs=3)
print("trained", len(model.history.history["loss"]))
