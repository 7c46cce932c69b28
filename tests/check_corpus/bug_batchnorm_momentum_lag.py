import sys

import keras
from keras import layers
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

FIXED = "--fixed" in sys.argv  # the same script with the bug fixed

x, y = load_digits(return_X_y=True)
x = x.reshape(-1, 8, 8, 1) / 16.0
x_train, x_val, y_train, y_val = train_test_split(x, y, test_size=0.2, random_state=0)
# the bug: a momentum so close to 1 that the moving statistics, which validation and
# predictions use, are still near their initial values after a short training
momentum = 0.9 if FIXED else 0.9999
model = keras.Sequential([
    keras.Input((8, 8, 1)),
    layers.Conv2D(32, 3, padding="same", use_bias=False),
    layers.BatchNormalization(momentum=momentum),
    layers.ReLU(),
    layers.Conv2D(32, 3, padding="same", use_bias=False),
    layers.BatchNormalization(momentum=momentum),
    layers.ReLU(),
    layers.Flatten(),
    layers.Dense(10),
])
model.compile(optimizer="adam",
              loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
              metrics=["accuracy"])
model.fit(x_train, y_train, epochs=3, batch_size=32, validation_data=(x_val, y_val))
