import keras
import numpy as np
from keras import layers
from sklearn.datasets import load_diabetes

x, y = load_diabetes(return_X_y=True, scaled=False)  # raw features: age, sex, bmi, ...
x = x.astype("float32")
normalizer = layers.Normalization(axis=-1)
normalizer.adapt(x[:350])

model = keras.Sequential([
    keras.Input(shape=(10,)),
    normalizer,
    layers.Dense(64, activation="relu"),
    layers.Dense(64, activation="relu"),
    layers.Dense(1, bias_initializer=keras.initializers.Constant(float(np.mean(y[:350])))),
])
model.compile(loss="mean_squared_error", optimizer=keras.optimizers.Adam(0.01), metrics=["mae"])
model.fit(x[:350], y[:350], validation_data=(x[350:], y[350:]), epochs=100, verbose=0)
