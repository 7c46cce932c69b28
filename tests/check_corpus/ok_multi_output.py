import keras
from sklearn.datasets import load_diabetes
from sklearn.preprocessing import StandardScaler

x, y = load_diabetes(return_X_y=True)
x = StandardScaler().fit_transform(x)
y_scaled = (y - y.mean()) / y.std()
inputs = keras.Input((10,))
h = keras.layers.Dense(16, activation="relu")(inputs)
value = keras.layers.Dense(1, name="value")(h)
high = keras.layers.Dense(1, activation="sigmoid", name="high")(h)
model = keras.Model(inputs, [value, high])
model.compile(optimizer="adam", loss=["mse", "binary_crossentropy"])
model.fit(x, [y_scaled, (y > y.mean()).astype("float32")], epochs=5)
