"""Transfer-learning style: a trained base frozen under a new head, then unfrozen and
fine-tuned at a small learning rate (two fits: zoo check checks the first)."""
import keras
from keras import layers
from sklearn.datasets import load_digits

x, y = load_digits(return_X_y=True)
x = x.astype("float32") / 16.0
base = keras.Sequential([keras.Input((64,)), layers.Dense(64, activation="relu"),
                         layers.Dense(32, activation="relu")], name="base")
# base.load_weights("pretrained.weights.h5")  # a pretrained base would load here

base.trainable = False
inputs = keras.Input((64,))
outputs = layers.Dense(10, activation="softmax")(base(inputs, training=False))
model = keras.Model(inputs, outputs)
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
model.fit(x[900:], y[900:], epochs=5, validation_split=0.2)

base.trainable = True
model.compile(optimizer=keras.optimizers.Adam(1e-5), loss="sparse_categorical_crossentropy",
              metrics=["accuracy"])
model.fit(x[900:], y[900:], epochs=2, validation_split=0.2)
