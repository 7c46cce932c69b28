import sys

import keras
import numpy as np
from keras import layers

FIXED = "--fixed" in sys.argv  # the same script with the bug fixed

# next-token prediction on counting sequences (each sequence counts up by its own step)
rng = np.random.default_rng(0)
starts, strides = rng.integers(0, 20, 2000), rng.integers(1, 4, 2000)
seq = (starts[:, None] + strides[:, None] * np.arange(13)) % 20
x, y = seq[:, :-1], seq[:, 1:]  # predict each next token
# the bug: a bidirectional layer lets step t read step t+1, the very token it predicts
recurrent = layers.LSTM(32, return_sequences=True)
if not FIXED:
    recurrent = layers.Bidirectional(layers.LSTM(32, return_sequences=True))
model = keras.Sequential([
    keras.Input((12,), dtype="int32"),
    layers.Embedding(20, 16),
    recurrent,
    layers.Dense(20),
])
model.compile(optimizer="adam",
              loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
model.fit(x, y, epochs=5, batch_size=64, validation_split=0.2)
