import keras
from sklearn.datasets import load_wine
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

x, y = load_wine(return_X_y=True)
x = StandardScaler().fit_transform(x)
x_train, x_val, y_train, y_val = train_test_split(x, y, test_size=0.25, random_state=0)

inputs = keras.Input(shape=(13,))
h = keras.layers.Dense(64, activation="relu")(inputs)
h = keras.layers.Dense(64, activation="relu")(h)
logits = keras.layers.Dense(3)(h)
model = keras.Model(inputs, logits)
model.compile(
    optimizer=keras.optimizers.Adam(1e-3),
    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    metrics=["accuracy"],
)
model.fit(x_train, y_train, validation_data=(x_val, y_val), epochs=30, batch_size=32)
