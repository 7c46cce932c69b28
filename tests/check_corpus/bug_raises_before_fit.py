import keras

model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
raise RuntimeError("the script's own bug, before fit")
