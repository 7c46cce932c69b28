import keras
from sklearn.datasets import load_diabetes
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

x, y = load_diabetes(return_X_y=True)  # targets around 152, not scaled
x_train, x_val, y_train, y_val = train_test_split(x, y, test_size=0.2, random_state=1)
scaler = StandardScaler().fit(x_train)
model = keras.Sequential([
    keras.Input((10,)),
    keras.layers.Dense(32, activation="relu"),
    keras.layers.Dense(1, bias_initializer=keras.initializers.Constant(y_train.mean())),
])
model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse", metrics=["mae"])
model.fit(scaler.transform(x_train), y_train, epochs=100, batch_size=32,
          validation_data=(scaler.transform(x_val), y_val))
