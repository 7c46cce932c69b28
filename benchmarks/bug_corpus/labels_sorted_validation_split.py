import sys

import keras
from sklearn.datasets import load_iris
from sklearn.preprocessing import StandardScaler
from sklearn.utils import shuffle

FIXED = "--fixed" in sys.argv
x, y = load_iris(return_X_y=True)  # rows sorted by species
x = StandardScaler().fit_transform(x)
if FIXED:
    x, y = shuffle(x, y, random_state=0)
model = keras.Sequential([
    keras.Input((4,)),
    keras.layers.Dense(16, activation="relu"),
    keras.layers.Dense(3, activation="softmax"),
])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
# validation_split takes the last rows, before fit's shuffle
model.fit(x, y, epochs=100, batch_size=8, validation_split=0.2, shuffle=True)
