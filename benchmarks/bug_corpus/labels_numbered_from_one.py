import sys

import keras
from sklearn.datasets import load_wine
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

FIXED = "--fixed" in sys.argv
x, y = load_wine(return_X_y=True)
y = y + 1  # cultivars 1, 2, 3, as the CSV numbers them
if FIXED:
    y = y - 1
x = StandardScaler().fit_transform(x)
x_train, x_val, y_train, y_val = train_test_split(x, y, test_size=0.2, random_state=1)
model = keras.Sequential([
    keras.Input((13,)),
    keras.layers.Dense(16, activation="relu"),
    keras.layers.Dense(3, activation="softmax"),
])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
model.fit(x_train, y_train, epochs=40, batch_size=8, validation_data=(x_val, y_val))
