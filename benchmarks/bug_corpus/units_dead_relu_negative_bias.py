import sys

import keras
from sklearn.datasets import load_breast_cancer
from sklearn.preprocessing import StandardScaler

FIXED = "--fixed" in sys.argv
x, y = load_breast_cancer(return_X_y=True)
x = StandardScaler().fit_transform(x)
# "start the units off" with a bias, sign mixed up
bias = "zeros" if FIXED else keras.initializers.Constant(-5.0)
model = keras.Sequential([
    keras.Input((30,)),
    keras.layers.Dense(64, activation="relu", bias_initializer=bias),
    keras.layers.Dense(1, activation="sigmoid"),
])
model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
model.fit(x, y, epochs=20, validation_split=0.2, shuffle=True)
