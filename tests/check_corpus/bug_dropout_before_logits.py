import sys

import keras
from keras import layers
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

FIXED = "--fixed" in sys.argv  # the same script with the bug fixed

x, y = load_digits(return_X_y=True)
x = x / 16.0
x_train, x_val, y_train, y_val = train_test_split(x, y, test_size=0.2, random_state=0)
# the bug: a typo'd dropout rate right before the logits: 99% of the features are
# dropped at every training step, so the last layer learns almost nothing
rate = 0.2 if FIXED else 0.99
model = keras.Sequential([
    keras.Input((64,)),
    layers.Dense(64, activation="relu"),
    layers.Dropout(rate),
    layers.Dense(10),
])
model.compile(optimizer=keras.optimizers.Adam(1e-3),
              loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
              metrics=["accuracy"])
model.fit(x_train, y_train, epochs=20, batch_size=32, validation_data=(x_val, y_val))
