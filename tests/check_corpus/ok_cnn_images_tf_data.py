import keras
import tensorflow as tf
from sklearn.datasets import load_digits

x, y = load_digits(return_X_y=True)
x = (x / 16.0).reshape(-1, 8, 8, 1).astype("float32")  # images in [0, 1]
train = tf.data.Dataset.from_tensor_slices((x[:1500], y[:1500])).shuffle(1500).batch(32)
val = tf.data.Dataset.from_tensor_slices((x[1500:], y[1500:])).batch(32)

model = keras.Sequential([
    keras.Input((8, 8, 1)),
    keras.layers.Conv2D(16, 3, padding="same", activation="relu"),
    keras.layers.MaxPooling2D(),
    keras.layers.Conv2D(32, 3, padding="same", activation="relu"),
    keras.layers.GlobalAveragePooling2D(),
    keras.layers.Dense(10, activation="softmax"),
])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
model.fit(train, validation_data=val, epochs=10)
