"""The checks that read the setup (input scale, labels, output and loss) and the layers
(gradient health, dead and saturated units), and the stability part of
loss_decreasing: each with a planted case that must fail and a clean case that must
pass, on models written as people write them (string losses, default initializers)."""

import types

import keras
import numpy as np
import pytest
from keras import layers

from zoo.checks import layers as L
from zoo.checks import setup as S
from zoo.checks.training import loss_decreasing, reproducibility

RNG = np.random.default_rng(0)
X = RNG.normal(size=(256, 8)).astype("float32")
Y3 = (X[:, 0] > 0.5).astype("int64") + (X[:, 1] > 0).astype("int64")  # classes 0, 1, 2
Y2 = (X[:, 0] > 0).astype("int64")


def mlp(out_units, activation=None, loss="sparse_categorical_crossentropy", *, hidden="relu",
        depth=1, first=(), optimizer="adam", shape=(8,), **dense):  # fmt: skip
    model = keras.Sequential([keras.Input(shape), *first])
    for _ in range(depth):
        model.add(layers.Dense(16, activation=hidden, **dense))
    model.add(layers.Dense(out_units, activation=activation))
    model.compile(optimizer=optimizer, loss=loss)
    return model


# ------------------------------------------------------------------ input_scale


def test_raw_pixels_fail_input_scale_and_the_fix_passes():
    pixels = RNG.integers(0, 256, size=(128, 8)).astype("float32")
    result = S.input_scale(mlp(3, "softmax"), (pixels, Y3[:128]))
    assert result.status == "fail" and "raw 0-255 pixel" in result.message
    assert S.input_scale(mlp(3, "softmax"), (pixels / 255, Y3[:128])).status == "pass"
    rescaled = mlp(3, "softmax", first=[layers.Rescaling(1 / 255)])
    assert S.input_scale(rescaled, (pixels, Y3[:128])).status == "pass"  # inside the model


def test_unscaled_measurements_fail_and_an_adapted_normalization_layer_passes():
    raw = X * np.array([1, 1, 1, 1, 1, 1, 300, 2000], "float32") + 1000
    result = S.input_scale(mlp(3, "softmax"), (raw, Y3))
    assert result.status == "fail" and "StandardScaler" in result.message
    norm = layers.Normalization()
    norm.adapt(raw)
    assert S.input_scale(mlp(3, "softmax", first=[norm]), (raw, Y3)).status == "pass"
    assert S.input_scale(mlp(3, "softmax"), (X * 8, Y3)).status == "warn"  # works, slowly


def test_constant_inputs_fail_and_token_ids_pass():
    result = S.input_scale(mlp(3, "softmax"), (np.zeros_like(X), Y3))
    assert result.status == "fail" and "the same across examples" in result.message
    tokens = RNG.integers(0, 500, size=(64, 10))
    model = keras.Sequential([
        keras.Input((10,), dtype="int32"),
        layers.Embedding(500, 8),
        layers.GlobalAveragePooling1D(),
        layers.Dense(1, "sigmoid"),
    ])
    model.compile("adam", "binary_crossentropy")
    assert S.input_scale(model, (tokens, Y2[:64])).status == "pass"


# ------------------------------------------------------------------ labels


@pytest.mark.parametrize(
    "labels,model,words",
    [
        (Y3 + 1, mlp(3, "softmax"), "numbered from 1"),
        (Y3 / 2.0, mlp(3, "softmax"), "fractions"),
        (Y3, mlp(3, "softmax", loss="categorical_crossentropy"), "one-hot labels of width 3"),
        (keras.utils.to_categorical(Y3, 4), mlp(3, "softmax", loss="categorical_crossentropy"),
         "width 4"),
        (Y2 + 1, mlp(1, "sigmoid", loss="binary_crossentropy"), "map them to 0 and 1"),
        (Y3 * 3, mlp(1, "sigmoid", loss="binary_crossentropy"), "classes"),
        (Y2 * 2 - 1, mlp(1, "sigmoid", loss="binary_crossentropy"), "0/1"),
        (Y2, mlp(3, "sigmoid", loss="binary_crossentropy"), "3 sigmoid outputs"),
    ],
)  # fmt: skip
def test_labels_that_do_not_fit_the_loss_fail(labels, model, words):
    result = S.labels(model, (X, labels))
    assert result.status == "fail" and words in result.message, result.message


@pytest.mark.parametrize(
    "labels,model",
    [
        (Y3, mlp(3, "softmax")),
        (keras.utils.to_categorical(Y3, 3), mlp(3, "softmax", loss="categorical_crossentropy")),
        (Y2, mlp(1, "sigmoid", loss="binary_crossentropy")),
        (RNG.random(256), mlp(1, "sigmoid", loss="binary_crossentropy")),  # soft labels
        (RNG.normal(size=256) * 100, mlp(1, loss="mse")),
    ],
)
def test_labels_that_fit_the_loss_pass(labels, model):
    assert S.labels(model, (X, labels)).status == "pass"


def test_a_validation_split_of_data_sorted_by_label_fails():
    order = np.argsort(Y3, kind="stable")
    x, y = X[order], Y3[order]
    cut = int(len(x) * 0.8)
    result = S.labels(mlp(3, "softmax"), (x[:cut], y[:cut]), (x[cut:], y[cut:]))
    assert result.status == "fail" and "validation_split holds out the last rows" in result.message
    shuffled = RNG.permutation(len(x))
    x, y = x[shuffled], y[shuffled]
    assert S.labels(mlp(3, "softmax"), (x[:cut], y[:cut]), (x[cut:], y[cut:])).status == "pass"


# ------------------------------------------------------------------ output_and_loss


@pytest.mark.parametrize(
    "model,labels,words",
    [
        (mlp(1, "softmax", loss="binary_crossentropy"), Y2, "single unit outputs 1.0"),
        (mlp(3, "softmax", loss="binary_crossentropy"), keras.utils.to_categorical(Y3, 3),
         "binary accuracy"),
        (mlp(1, "sigmoid", loss="mse"), RNG.normal(150, 50, 256), "outside what a sigmoid"),
        (mlp(3, "softmax", loss="mse"), (RNG.random((256, 3)) > 0.5).astype("float32"),
         "several labels"),
        (mlp(1, "relu", loss="mse"), RNG.normal(size=256), "outside what a relu"),
    ],
)  # fmt: skip
def test_an_output_that_does_not_fit_the_loss_or_targets_fails(model, labels, words):
    result = S.output_and_loss(model, (X, labels))
    assert result.status == "fail" and words in result.message, result.message


@pytest.mark.parametrize(
    "model,labels,words",
    [
        # Keras 3 trains these (a sigmoid head under a categorical loss trains as a
        # softmax; MSE on probabilities trains, more slowly): suspicious, not harmful
        (mlp(3, "sigmoid"), Y3, "silently"),
        (mlp(3, "softmax", loss="mse"), keras.utils.to_categorical(Y3, 3), "regression loss"),
        (mlp(1, "sigmoid", loss="mse"), Y2, "0/1 labels"),
    ],
)  # fmt: skip
def test_a_valid_but_unusual_output_and_loss_warns(model, labels, words):
    result = S.output_and_loss(model, (X, labels))
    assert result.status == "warn" and words in result.message, result.message


@pytest.mark.parametrize(
    "model,labels",
    [
        (mlp(3, "softmax"), Y3),
        (mlp(3), Y3),  # logits: loss_at_init says what this needs
        (mlp(1, "sigmoid", loss="binary_crossentropy"), Y2),
        (mlp(1, "sigmoid", loss="mse"), RNG.random(256)),  # a target in [0, 1]
        (mlp(1, "relu", loss="mse"), RNG.random(256) * 100),  # non-negative
        (mlp(1, loss="huber"), RNG.normal(size=256)),
    ],
)
def test_outputs_that_fit_pass(model, labels):
    assert S.output_and_loss(model, (X, labels)).status == "pass"


# ------------------------------------------------------------------ gradient_health


def test_stacked_sigmoids_have_vanishing_gradients_and_relu_with_he_init_does_not():
    def build(activation, init):
        return lambda: mlp(3, "softmax", hidden=activation, depth=8, kernel_initializer=init,
                           optimizer=keras.optimizers.SGD(0.05))  # fmt: skip

    result = L.gradient_health(build("sigmoid", "glorot_uniform"), (X, Y3), steps=5)
    assert result.status == "fail" and "vanishing" in result.message
    assert len(result.details["layers"]) == 9 and len(result.details["after"]) == 9
    healthy = L.gradient_health(build("relu", "he_normal"), (X, Y3), steps=5)
    assert healthy.status == "pass", healthy.message


def test_a_layer_behind_dead_units_gets_zero_gradient():
    build = lambda: mlp(3, "softmax", bias_initializer=keras.initializers.Constant(-20.0))  # noqa: E731
    result = L.gradient_health(build, (X, Y3), steps=2)
    assert result.status == "fail" and "exactly zero gradient" in result.message


def test_non_finite_gradients_are_named():
    result = L._verdict_gradients([("dense", 1.0, 1.0), ("out", float("nan"), 1.0)], "at init",
                                  1e-2, 1e-4, 1e3)  # fmt: skip
    assert result[0] == "fail" and "'out'" in result[1] and "NaN" in result[1]


# ------------------------------------------------------------------ dead_units


def test_a_layer_of_only_dead_relus_fails_many_dead_or_saturated_units_warn():
    dead = lambda: mlp(3, "softmax", bias_initializer=keras.initializers.Constant(-20.0))  # noqa: E731
    result = L.dead_units(dead, (X, Y3), steps=2)
    assert result.status == "fail" and "dead" in result.message
    assert "same for every example" in result.message
    big = keras.initializers.RandomNormal(stddev=10.0)
    saturated = lambda: mlp(3, "softmax", hidden="tanh", kernel_initializer=big)  # noqa: E731
    result = L.dead_units(saturated, (X, Y3), steps=2)
    assert result.status == "warn" and "saturated" in result.message
    assert L.dead_units(lambda: mlp(3, "softmax"), (X, Y3), steps=5).status == "pass"


def test_layer_outputs_reads_inside_a_nested_model_and_leaves_it_as_it_was():
    inner = keras.Sequential([keras.Input((8,)), layers.Dense(4, activation="relu", name="in")])
    model = keras.Sequential([inner, layers.Dense(3, activation="softmax")])
    before = keras.ops.convert_to_numpy(model(X[:4]))
    seen = L.layer_outputs(model, X[:4], [inner.layers[0]])
    assert seen["in"].shape == (4, 4) and "call" not in vars(inner.layers[0])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model(X[:4])), before)
    # a layer with a call of its own (as zoo.layers.fuse_batch_norm gives) keeps it
    bn = layers.BatchNormalization()

    def own_call(self, inputs, training=None, mask=None):
        return layers.BatchNormalization.call(self, inputs, training=training, mask=mask)

    own = types.MethodType(own_call, bn)
    object.__setattr__(bn, "call", own)
    inputs = keras.Input((8,))
    nested = keras.Model(inputs, bn(inputs))
    assert L.layer_outputs(nested, X[:4], [bn])[bn.name].shape == (4, 8)
    assert vars(bn)["call"] is own


# ------------------------------------------------------------------ stability


def test_a_learning_rate_that_blows_the_loss_up_fails_and_an_unusual_one_warns():
    wild = lambda: mlp(1, loss="mse", optimizer=keras.optimizers.SGD(50.0))  # noqa: E731
    y = X[:, 0] * 3
    result = loss_decreasing(wild, (X, y), steps=30)
    assert result.status == "fail"
    assert "NaN or infinite" in result.message or "the loss grows" in result.message
    assert reproducibility(wild, (X, y)).status == "pass"  # NaN in both runs is agreement
    tiny = lambda: mlp(3, "softmax", optimizer=keras.optimizers.Adam(1e-8))  # noqa: E731
    result = loss_decreasing(tiny, (X, Y3), steps=20)
    assert result.status == "fail" and "unusually small for Adam" in result.message
    fine = lambda: mlp(3, "softmax", optimizer=keras.optimizers.Adam(0.2))  # noqa: E731
    result = loss_decreasing(fine, (X, Y3), steps=30)
    assert "unusually large for Adam" in result.message and result.status != "pass"


# ------------------------------------------------------------------ during training


def test_a_nan_during_training_stops_it_and_names_the_first_layer_gone_bad():
    from zoo.checks.monitor import TrainingMonitor

    model = mlp(1, loss="mse", optimizer=keras.optimizers.SGD(1e4))
    seen = []
    watch = TrainingMonitor(X, say=seen.append)
    history = model.fit(X, X[:, 0] * 100, epochs=20, batch_size=32, callbacks=[watch], verbose=0)
    assert len(history.history["loss"]) < 20  # stopped
    result = watch.results[0]
    assert result.name == "training_finite" and result.status == "fail" and seen == [result]
    assert "layer 'dense" in result.message and "Training was stopped" in result.message


def test_reading_the_epochs_overfitting_no_progress_and_train_longer():
    from zoo.checks.monitor import read_epochs

    rising = read_epochs([1.0, 0.6, 0.4, 0.3, 0.2, 0.1], [1.0, 0.7, 0.6, 0.65, 0.8, 0.9])
    over = next(r for r in rising if r.name == "overfitting")
    assert over.status == "warn" and "overfitting from epoch 4" in over.message
    assert not [r for r in rising if r.name == "train_longer"]  # validation already rising
    flat = read_epochs([0.69, 0.69, 0.69, 0.69])
    assert flat[0].name == "training_progress" and flat[0].status == "fail"
    steep = read_epochs([2.0, 1.5, 1.1, 0.8, 0.5], [2.0, 1.6, 1.2, 0.9, 0.6])
    assert [r.name for r in steep if r.status == "warn"] == ["train_longer"]
    done = read_epochs([2.0, 0.5, 0.31, 0.30, 0.30, 0.30], [2.0, 0.6, 0.4, 0.39, 0.39, 0.39])
    assert [r.status for r in done] == ["pass"]


# ------------------------------------------------------------------ on JAX

JAX_SCRIPT = """
import numpy as np, keras, zoo
from keras import layers, ops
assert keras.backend.backend() == "jax"
rng = np.random.default_rng(0)
x = rng.normal(size=(300, 6)).astype("float32")
y = (x[:, 0] > 0).astype("int64")
def model(middle=()):
    m = keras.Sequential([keras.Input((6,)), layers.Dense(16, activation="relu"), *middle,
                          layers.Dense(2, activation="softmax")])
    m.compile("adam", "sparse_categorical_crossentropy")
    return m
read = ("input_scale", "labels", "output_and_loss", "loss_at_init", "batch_independence",
        "gradient_health", "dead_units")  # the longer trainings: the same code as on TF
good = zoo.check(model(), x, y, batch_size=16, epochs=5, checks=read)
mixing = layers.Lambda(lambda t: t - ops.mean(t, axis=0))
bad = zoo.check(model([mixing]), x, y, batch_size=16, epochs=5, checks=("batch_independence",))
print("GOOD", [(r.name, r.status) for r in good.results if r.status == "fail"])
print("BAD", bad["batch_independence"].status)
from zoo import create_model
from zoo.optim import compile_model
zoo_model = compile_model(create_model("mlp", input_shape=(6,), num_classes=2), "classification")
print("JIT", zoo_model.jit_compile)
"""


@pytest.mark.slow  # CI runs this whole file on JAX too (.ci/run)
def test_the_checks_run_on_the_jax_backend():
    import os
    import subprocess
    import sys

    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    done = subprocess.run([sys.executable, "-c", JAX_SCRIPT], capture_output=True, text=True,
                          env=env, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "GOOD []" in done.stdout  # no false alarm: input gradients and layer gradients
    assert "BAD fail" in done.stdout  # batch mixing caught through jax.grad
    assert "JIT True" in done.stdout  # zoo compiles with jax.jit there (27x on ResNet-50)


def test_unit_histograms_take_outputs_that_all_but_agree():
    """Saturated units whose float32 outputs differ in the last bit: NumPy cannot cut
    40 finite bins there (it raised, and gradient_health errored in a fix trial)."""
    from zoo.checks.layers import _histogram

    x = np.array([0.5, np.nextafter(np.float32(0.5), np.float32(1))], "float32")
    counts, edges = _histogram(x)
    assert counts.sum() == 2 and len(edges) == 41 and np.all(np.isfinite(edges))
