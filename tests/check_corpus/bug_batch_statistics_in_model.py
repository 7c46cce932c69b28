import sys

import keras
from keras import layers, ops
from sklearn.datasets import load_wine
from sklearn.model_selection import train_test_split

FIXED = "--fixed" in sys.argv  # the same script with the bug fixed

x, y = load_wine(return_X_y=True)
x_train, x_val, y_train, y_val = train_test_split(x, y, test_size=0.2, random_state=0)
# the bug: standardizing inside the model with the batch's own mean and spread (axis 0),
# so each prediction depends on the other examples in its batch
standardize = layers.Lambda(lambda t: (t - ops.mean(t, axis=0)) / (ops.std(t, axis=0) + 1e-6))
if FIXED:  # statistics of the training set, fixed
    standardize = layers.Normalization()
    standardize.adapt(x_train)
model = keras.Sequential([
    keras.Input((13,)),
    standardize,
    layers.Dense(32, activation="relu"),
    layers.Dense(3, activation="softmax"),
])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
model.fit(x_train, y_train, epochs=30, batch_size=16, validation_data=(x_val, y_val))
