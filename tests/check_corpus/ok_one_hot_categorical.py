import keras
from sklearn.datasets import load_digits

x, y = load_digits(return_X_y=True)
x = x / 16.0
y = keras.utils.to_categorical(y, 10)
model = keras.Sequential([
    keras.Input((64,)),
    keras.layers.Dense(128, activation="relu"),
    keras.layers.Dropout(0.2),
    keras.layers.Dense(10, activation="softmax"),
])
model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
model.fit(x, y, batch_size=64, epochs=15, validation_split=0.1)
