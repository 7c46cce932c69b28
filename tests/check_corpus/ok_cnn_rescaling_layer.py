import keras
from keras import layers
from sklearn.datasets import load_digits

x, y = load_digits(return_X_y=True)
x = x.reshape(-1, 8, 8, 1)  # raw pixel values 0-16; the model rescales them itself

model = keras.Sequential([
    keras.Input(shape=(8, 8, 1)),
    layers.Rescaling(1.0 / 16),
    layers.Conv2D(16, 3, padding="same", activation="relu"),
    layers.MaxPooling2D(),
    layers.Conv2D(32, 3, padding="same", activation="relu"),
    layers.GlobalAveragePooling2D(),
    layers.Dense(10, activation="softmax"),
])
model.compile(optimizer=keras.optimizers.RMSprop(learning_rate=1e-3),
              loss=keras.losses.SparseCategoricalCrossentropy(), metrics=["accuracy"])
model.fit(x, y, batch_size=32, epochs=10, validation_split=0.2)
