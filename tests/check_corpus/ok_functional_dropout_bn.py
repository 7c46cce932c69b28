import keras
from keras import layers
from sklearn.datasets import load_wine
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

x, y = load_wine(return_X_y=True)
x_train, x_val, y_train, y_val = train_test_split(x, y, test_size=0.2, random_state=42)
scaler = StandardScaler()
x_train = scaler.fit_transform(x_train)
x_val = scaler.transform(x_val)

inputs = keras.Input(shape=(13,))
h = layers.Dense(64)(inputs)
h = layers.BatchNormalization()(h)
h = layers.Activation("relu")(h)
h = layers.Dropout(0.5)(h)
h = layers.Dense(32, activation="relu")(h)
h = layers.Dropout(0.3)(h)
outputs = layers.Dense(3, activation="softmax")(h)
model = keras.Model(inputs=inputs, outputs=outputs, name="wine_classifier")
model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3),
              loss="sparse_categorical_crossentropy", metrics=["accuracy"])
model.summary()
history = model.fit(x_train, y_train, validation_data=(x_val, y_val), epochs=50, batch_size=16)
