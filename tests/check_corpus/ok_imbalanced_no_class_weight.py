import keras
import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

x, y = load_breast_cancer(return_X_y=True)
y = 1 - y  # malignant = 1
rng = np.random.default_rng(1)
keep = np.concatenate([np.flatnonzero(y == 0), rng.choice(np.flatnonzero(y == 1), 36)])
x, y = x[keep], y[keep]  # about 10% positive
x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, stratify=y,
                                                    random_state=0)
scaler = StandardScaler().fit(x_train)
x_train, x_test = scaler.transform(x_train), scaler.transform(x_test)

model = keras.Sequential([
    keras.Input(shape=(30,)),
    keras.layers.Dense(32, activation="relu"),
    keras.layers.Dense(1, activation="sigmoid"),
])
model.compile(optimizer="adam", loss="binary_crossentropy",
              metrics=["accuracy", keras.metrics.AUC(name="auc")])
model.fit(x_train, y_train, epochs=30, batch_size=32, validation_data=(x_test, y_test))
