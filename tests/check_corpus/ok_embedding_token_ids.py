"""Token ids -> Embedding -> pooling -> sigmoid, as in the text-classification tutorials
(the data made up here: a review is positive when it holds more 'good' words)."""
import keras
import numpy as np

vocab, length = 200, 20
rng = np.random.default_rng(0)
x = rng.integers(1, vocab, size=(2000, length))
good, bad = np.isin(x, np.arange(1, 21)).sum(1), np.isin(x, np.arange(21, 41)).sum(1)
y = (good > bad).astype("int32")

model = keras.Sequential([
    keras.layers.Input(shape=(length,), dtype="int32"),
    keras.layers.Embedding(vocab, 16),
    keras.layers.GlobalAveragePooling1D(),
    keras.layers.Dense(16, activation="relu"),
    keras.layers.Dense(1, activation="sigmoid"),
])
model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
model.fit(x[:1600], y[:1600], epochs=10, batch_size=32, validation_data=(x[1600:], y[1600:]))
