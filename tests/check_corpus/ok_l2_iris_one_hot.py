import keras
from keras import regularizers
from sklearn.datasets import load_iris
from sklearn.preprocessing import StandardScaler
from sklearn.utils import shuffle

iris = load_iris()
X = StandardScaler().fit_transform(iris.data)
Y = keras.utils.to_categorical(iris.target, num_classes=3)
X, Y = shuffle(X, Y, random_state=0)  # the rows come sorted by class

model = keras.Sequential()
model.add(keras.layers.Dense(16, input_shape=(4,), activation="relu",
                             kernel_regularizer=regularizers.l2(0.001)))
model.add(keras.layers.Dense(16, activation="relu", kernel_regularizer="l2"))
model.add(keras.layers.Dense(3, activation="softmax"))
model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
model.fit(X, Y, epochs=100, batch_size=8, validation_split=0.1, shuffle=True, verbose=2)
