import sys

import keras
from sklearn.datasets import load_iris
from sklearn.preprocessing import StandardScaler

FIXED = "--fixed" in sys.argv
x, y = load_iris(return_X_y=True)
x = StandardScaler().fit_transform(x)
if FIXED:
    y = keras.utils.to_categorical(y, 3)
model = keras.Sequential([
    keras.Input((4,)),
    keras.layers.Dense(10, activation="relu"),
    keras.layers.Dense(3, activation="softmax"),
])
model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
model.fit(x, y, epochs=100, batch_size=10, shuffle=True)
