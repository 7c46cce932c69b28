import keras
import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.preprocessing import StandardScaler

x, y = load_breast_cancer(return_X_y=True)
x = StandardScaler().fit_transform(x)
y = np.random.default_rng(0).permutation(y)  # the bug: labels shuffled on their own
model = keras.Sequential([keras.Input((30,)), keras.layers.Dense(16, activation="relu"),
                          keras.layers.Dense(1, activation="sigmoid")])
model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
model.fit(x, y, epochs=20, validation_split=0.2)
