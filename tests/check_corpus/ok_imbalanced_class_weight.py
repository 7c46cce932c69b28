import keras
import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.preprocessing import StandardScaler

x, y = load_breast_cancer(return_X_y=True)
y = 1 - y  # malignant = 1
keep = np.concatenate([np.flatnonzero(y == 0), np.flatnonzero(y == 1)[:40]])  # ~10% positive
rng = np.random.default_rng(0)
keep = rng.permutation(keep)
x, y = StandardScaler().fit_transform(x[keep]), y[keep]

pos = y.mean()
model = keras.Sequential([
    keras.Input((30,)),
    keras.layers.Dense(16, activation="relu"),
    keras.layers.Dense(1, bias_initializer=keras.initializers.Constant(np.log(pos / (1 - pos)))),
])
model.compile(optimizer="adam", loss=keras.losses.BinaryCrossentropy(from_logits=True))
weights = {0: 1.0, 1: (1 - pos) / pos}
model.fit(x, y, epochs=20, batch_size=32, class_weight=weights, validation_split=0.2)
