import sys

import keras
from sklearn.datasets import load_iris
from sklearn.preprocessing import StandardScaler
from sklearn.utils import shuffle

FIXED = "--fixed" in sys.argv  # the same script with the bug fixed

x, y = load_iris(return_X_y=True)
x, y = shuffle(x, y, random_state=0)  # the rows come sorted by class
x = StandardScaler().fit_transform(x)
model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(16, activation="relu"),
                          keras.layers.Dense(3, activation="softmax")])
model.compile(optimizer="adam",
              loss=keras.losses.SparseCategoricalCrossentropy(from_logits=not FIXED))  # the bug
model.fit(x, y, epochs=20, validation_split=0.2, shuffle=True)
