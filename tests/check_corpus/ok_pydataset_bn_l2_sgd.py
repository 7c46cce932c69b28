import math

import keras
import numpy as np
from sklearn.datasets import load_digits


class Digits(keras.utils.PyDataset):
    def __init__(self, x, y, batch_size=32, **kwargs):
        super().__init__(**kwargs)
        self.x, self.y, self.batch_size = x, y, batch_size

    def __len__(self):
        return math.ceil(len(self.x) / self.batch_size)

    def __getitem__(self, i):
        s = slice(i * self.batch_size, (i + 1) * self.batch_size)
        return self.x[s], self.y[s]


x, y = load_digits(return_X_y=True)
x = (x / 16.0).astype("float32")
order = np.random.default_rng(0).permutation(len(x))
x, y = x[order], y[order]
l2 = keras.regularizers.L2(1e-4)
model = keras.Sequential([
    keras.Input((64,)),
    keras.layers.Dense(128, use_bias=False, kernel_regularizer=l2),
    keras.layers.BatchNormalization(),
    keras.layers.Activation("relu"),
    keras.layers.Dropout(0.3),
    keras.layers.Dense(10, kernel_regularizer=l2),
])
model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9),
              loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
model.fit(Digits(x[:1500], y[:1500]), validation_data=Digits(x[1500:], y[1500:]), epochs=10)
