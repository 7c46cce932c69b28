import keras
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

digits = load_digits()
x = digits.data.astype("float32") / 16.0
y = keras.utils.to_categorical(digits.target)
x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.2, random_state=0)

model = keras.Sequential([
    keras.layers.Input(shape=(64,)),
    keras.layers.Dense(100, activation="tanh"),
    keras.layers.Dense(10),
])
opt = keras.optimizers.SGD(learning_rate=0.05, momentum=0.9, nesterov=True)
model.compile(optimizer=opt, loss=keras.losses.CategoricalCrossentropy(from_logits=True),
              metrics=[keras.metrics.CategoricalAccuracy()])
model.fit(x_train, y_train, batch_size=64, epochs=15, validation_data=(x_test, y_test))
