import sys

import keras
from sklearn.datasets import load_wine
from sklearn.preprocessing import StandardScaler
from sklearn.utils import shuffle

FIXED = "--fixed" in sys.argv
x, y = load_wine(return_X_y=True)
x = StandardScaler().fit_transform(x)
x, y = shuffle(x, y, random_state=0)  # the rows come sorted by class
model = keras.Sequential([
    keras.Input((13,)),
    keras.layers.Dense(64, activation="relu"),
    keras.layers.Dense(64, activation="relu"),
    keras.layers.Dense(3, activation="softmax"),
])
model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3 if FIXED else 1.0),
              loss="sparse_categorical_crossentropy", metrics=["accuracy"])
model.fit(x, y, epochs=50, batch_size=8, validation_split=0.2, shuffle=True)
