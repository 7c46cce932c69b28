import sys

import keras
from sklearn.datasets import load_breast_cancer
from sklearn.preprocessing import StandardScaler

FIXED = "--fixed" in sys.argv  # the same script with the bug fixed

x, y = load_breast_cancer(return_X_y=True)
x = StandardScaler().fit_transform(x)
# the bug: decay_steps counted in epochs, but Keras counts optimizer steps: the learning
# rate halves every 10 steps and is zero long before training ends
steps_per_epoch = 15  # 455 examples / 32
decay_steps = 10 * steps_per_epoch if FIXED else 10
schedule = keras.optimizers.schedules.ExponentialDecay(1e-3, decay_steps, decay_rate=0.5)
model = keras.Sequential([
    keras.Input((30,)),
    keras.layers.Dense(16, activation="relu"),
    keras.layers.Dense(1, activation="sigmoid"),
])
model.compile(optimizer=keras.optimizers.Adam(schedule), loss="binary_crossentropy")
model.fit(x, y, epochs=50, batch_size=32, validation_split=0.2)
