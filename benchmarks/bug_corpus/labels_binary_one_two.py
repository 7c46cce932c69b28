import sys

import keras
import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.preprocessing import StandardScaler

FIXED = "--fixed" in sys.argv
x, y = load_breast_cancer(return_X_y=True)
x = StandardScaler().fit_transform(x)
y = np.where(y == 1, 2, 1)  # the survey coded benign as 2, malignant as 1
if FIXED:
    y = y - 1
model = keras.Sequential([
    keras.Input((30,)),
    keras.layers.Dense(16, activation="relu"),
    keras.layers.Dense(1, activation="sigmoid"),
])
model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
model.fit(x, y, epochs=20, validation_split=0.2, shuffle=True)
