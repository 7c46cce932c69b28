import keras
from sklearn.datasets import load_breast_cancer
from sklearn.preprocessing import StandardScaler


class Classifier(keras.Model):
    def __init__(self):
        super().__init__()
        self.hidden = keras.layers.Dense(32, activation="relu")
        self.out = keras.layers.Dense(2)

    def call(self, inputs, training=False):
        return self.out(self.hidden(inputs))


x, y = load_breast_cancer(return_X_y=True)
x = StandardScaler().fit_transform(x).astype("float32")
model = Classifier()
model.compile(optimizer="adam",
              loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
              metrics=["accuracy"])
model.fit(x, y, epochs=10, batch_size=32, validation_split=0.2)
