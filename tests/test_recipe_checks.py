"""Each silent bug the notes list, planted on purpose, and the check that catches it;
and correct setups that pass."""

import keras
import numpy as np
import pytest
from keras import layers, ops

from zoo import create_model
from zoo.checks import (
    batch_independence,
    input_independent_baseline,
    loss_at_init,
    loss_decreasing,
    overfit_one_batch,
    reproducibility,
    run_checks,
)
from zoo.data import load
from zoo.optim import compile_model
from zoo.outputs import init_output_bias


@pytest.fixture(scope="module")
def cancer():
    data = load("breast_cancer", seed=5)
    return data.arrays("train"), data.arrays("val")


def mlp(**kw):
    def build():
        model = create_model("mlp", input_shape=(30,), num_classes=2, **kw)
        return compile_model(model, "classification")

    return build


def dense_model(*, head_activation=None, middle=None, trainable=True):
    inputs = keras.Input((30,))
    x = layers.Dense(32, activation="relu")(inputs)
    if middle is not None:
        x = middle(x)
    outputs = layers.Dense(2, activation=head_activation, name="logits")(x)
    model = keras.Model(inputs, outputs)
    model.trainable = trainable
    return model


def compiled(model, loss=None, lr=3e-4):
    model.compile(
        optimizer=keras.optimizers.Adam(lr),
        loss=loss or keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return model


def test_correct_setup_passes_every_check(cancer):
    train, val = cancer
    report = run_checks(mlp(), train, val, total_steps=2000)
    assert report.passed, [r.line() for r in report.failed]
    assert [r.name for r in report.results] == [
        "input_scale",
        "labels",
        "output_and_loss",
        "regularization",
        "validation_data",
        "frozen_inputs",
        "sequence_leak",
        "reproducibility",
        "loss_at_init",
        "overfit_one_batch",
        "batch_independence",
        "loss_decreasing",
        "input_independent_baseline",
        "inference_mode",
        "gradient_health",
        "dead_units",
    ]


def test_labels_shuffled_against_inputs_fail_the_input_independent_baseline(cancer):
    (x, y), (xv, yv) = cancer
    rng = np.random.default_rng(0)
    result = input_independent_baseline(mlp(), (x, rng.permutation(y)), (xv, yv))
    assert not result.passed and "does not use its input" in result.message
    assert input_independent_baseline(mlp(), (x, y), (xv, yv)).passed


def test_inputs_zeroed_by_broken_preprocessing_fail_the_input_independent_baseline(cancer):
    (x, y), (xv, yv) = cancer
    result = input_independent_baseline(mlp(), (x * 0, y), (xv * 0, yv))
    assert not result.passed


def test_softmax_before_a_from_logits_loss(cancer):
    train, _ = cancer
    result = loss_at_init(compiled(dense_model(head_activation="softmax")), train)
    assert not result.passed and "ends in softmax" in result.message


def test_an_op_that_mixes_examples_fails_batch_independence(cancer):
    train, _ = cancer
    # Meant: transpose each example's features; done: transpose the whole batch matrix
    # and reshape it back, which moves values between examples.
    mix = layers.Lambda(lambda t: ops.reshape(ops.transpose(t), ops.shape(t)))
    result = batch_independence(compiled(dense_model(middle=mix)), train)
    assert not result.passed and "mixes examples" in result.message
    assert batch_independence(compiled(dense_model()), train).passed


class ClippedCrossentropy(keras.losses.SparseCategoricalCrossentropy):
    """The bug: the loss clipped (meant: clip the gradients)."""

    def call(self, y_true, y_pred):
        return ops.minimum(super().call(y_true, y_pred), 0.5)


def test_a_clipped_loss_is_caught(cancer):
    train, _ = cancer
    build = lambda: compiled(dense_model(), ClippedCrossentropy(from_logits=True))  # noqa: E731
    model = build()
    model.get_layer("logits").bias.assign([3.0, -3.0])  # start where the clip bites
    result = loss_at_init(model, train)
    assert not result.passed and "clipped" in result.message


@pytest.mark.parametrize("classes", [2, 1])
def test_large_logits_from_logits_are_not_read_as_a_clipped_loss(classes):
    """Confidently wrong logits (a pretrained trunk's features under a new head) cost
    what Keras computes from logits, unclipped; only the clipped copy above fails."""
    x = np.zeros((64, 3), "float32")
    y = np.arange(64) % 2
    inputs = keras.Input((3,))
    logits = layers.Dense(classes, kernel_initializer="zeros", name="logits")(inputs)
    model = keras.Model(inputs, logits)
    loss = (keras.losses.SparseCategoricalCrossentropy if classes == 2
            else keras.losses.BinaryCrossentropy)(from_logits=True)  # fmt: skip
    model.compile(optimizer="adam", loss=loss)
    model.get_layer("logits").bias.assign([-140.0, -5.0] if classes == 2 else [60.0])
    result = loss_at_init(model, (x, y))
    assert result.measured > 25 and "clipped" not in result.message, result.message


def test_regularization_so_strong_nothing_fits_fails_overfit_one_batch(cancer):
    train, _ = cancer
    result = overfit_one_batch(mlp(regularizer="l2:10"), train, max_steps=400)
    assert not result.passed and "cannot memorize one batch" in result.message


def test_a_frozen_model_fails_overfit_and_loss_decreasing(cancer):
    train, _ = cancer
    build = lambda: compiled(dense_model(trainable=False))  # noqa: E731
    assert not overfit_one_batch(build, train, max_steps=200).passed
    assert not loss_decreasing(build, train).passed


def test_a_schedule_decaying_to_zero_early_fails_loss_decreasing(cancer):
    train, _ = cancer
    schedule = keras.optimizers.schedules.ExponentialDecay(3e-4, decay_steps=20, decay_rate=0.01)
    build = lambda: compiled(dense_model(), lr=schedule)  # noqa: E731
    result = loss_decreasing(build, train, total_steps=1000)
    assert not result.passed and "below 1% of its peak" in result.message


def test_imbalanced_binary_without_the_bias_set_fails_loss_at_init():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 5)).astype("float32")
    y = (rng.random(400) < 0.05).astype("int64")  # 5% positives
    inputs = keras.Input((5,))
    model = keras.Model(inputs, layers.Dense(1, kernel_initializer="zeros", name="logits")(inputs))
    model.compile(optimizer="adam", loss=keras.losses.BinaryCrossentropy(from_logits=True))
    result = loss_at_init(model, (x, y))
    # it trains, but starts with a hockey stick: a warning, not a failure
    assert result.status == "warn" and "init_output_bias" in result.message
    init_output_bias(model, y)
    assert loss_at_init(model, (x, y)).status == "pass"
    assert float(model.get_layer("logits").bias.numpy()[0]) == pytest.approx(
        np.log(y.mean() / (1 - y.mean())), rel=1e-4
    )


def test_regression_bias_at_the_target_mean_gives_the_variance():
    data = load("diabetes")
    (x, y) = data.arrays("train")
    model = compile_model(create_model("mlp", input_shape=(10,), num_classes=1), "regression")
    assert loss_at_init(model, (x, y)).status == "warn"  # bias 0, target mean 150
    init_output_bias(model, y)
    result = loss_at_init(model, (x, y))
    assert result.status == "pass" and result.expected == pytest.approx(y.var(), rel=0.01)


def test_unseeded_randomness_fails_reproducibility(cancer):
    train, _ = cancer

    def build():
        model = dense_model(
            middle=layers.Dropout(0.5, seed=int(np.random.SeedSequence().entropy % 1000))
        )
        return compiled(model)

    assert not reproducibility(build, train).passed
    assert reproducibility(mlp(), train).passed


@pytest.mark.slow
@pytest.mark.parametrize(
    "source,model", [("digits", "convnet"), ("breast_cancer", "mlp"), ("diabetes", "mlp")]
)
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_no_false_alarms_on_correct_setups(source, model, seed):
    from zoo.config import TrainConfig
    from zoo.run import load_for
    from zoo.train import build_fn

    config, loaded = load_for(TrainConfig(data=source, model=model, seed=seed))
    keras.utils.set_random_seed(seed)
    build = build_fn(config, loaded)
    report = run_checks(build, loaded.train, loaded.val, total_steps=build.total_steps)
    assert report.passed, [r.line() for r in report.failed]


# ---- the checks on Keras code as people write it: no false alarms


def _tutorial_classifier(loss, activation="softmax", classes=3, seed=0):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [
            keras.Input((4,)),
            layers.Dense(16, activation="relu"),
            layers.Dense(classes, activation=activation),
        ]
    )
    model.compile(optimizer="adam", loss=loss, metrics=["accuracy"])
    return model


def _iris():
    data = load("iris", seed=1)
    return data.arrays("train"), data.arrays("val")


@pytest.mark.parametrize(
    "loss,activation,one_hot",
    [
        ("sparse_categorical_crossentropy", "softmax", False),
        (keras.losses.sparse_categorical_crossentropy, "softmax", False),
        (keras.losses.SparseCategoricalCrossentropy(from_logits=True), None, False),
        ("categorical_crossentropy", "softmax", True),
    ],
)
def test_every_loss_form_on_a_correct_classifier_passes(loss, activation, one_hot):
    (x, y), (xv, yv) = _iris()
    if one_hot:
        y, yv = np.eye(3)[y], np.eye(3)[yv]
    build = lambda: _tutorial_classifier(loss, activation)  # noqa: E731
    # the checks that read the loss (the training ones run on these forms in
    # tests/test_check.py's corpus)
    report = run_checks(
        build, (x, y), (xv, yv), set_output_bias=False,
        checks=("loss_at_init", "overfit_one_batch", "batch_independence"),
    )  # fmt: skip
    assert not report.failed and len(report.results) == 3, [r.line() for r in report.failed]
    assert report["batch_independence"].status == "pass"  # a softmax is not batch mixing


@pytest.mark.parametrize("loss", ["mse", "mae", "huber", keras.losses.Huber(delta=5.0)])
def test_regression_string_and_object_losses_with_a_matching_bias(loss):
    data = load("diabetes", seed=1)
    (x, y) = data.arrays("train")
    model = keras.Sequential(
        [keras.Input((10,)), layers.Dense(8, activation="relu"), layers.Dense(1)]
    )
    model.layers[-1].bias.assign([float(y.mean())])  # unscaled targets, a matching bias
    model.compile(optimizer="adam", loss=loss)
    result = loss_at_init(model, (x, y))
    assert result.status != "fail", result.line()


def test_a_loss_function_returning_per_example_values_is_read():
    (x, y), _ = _iris()

    def my_loss(y_true, y_pred):  # what people write: per-example, no reduction
        return keras.losses.sparse_categorical_crossentropy(y_true, y_pred)

    result = loss_at_init(_tutorial_classifier(my_loss), (x, y))
    assert result.status == "pass" and "custom loss my_loss" in result.message


def test_imbalanced_binary_with_keras_default_init_and_the_prior_bias_does_not_fail():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 5)).astype("float32")
    y = (rng.random(400) < 0.1).astype("int64")
    model = keras.Sequential([keras.Input((5,)), layers.Dense(1, name="logits")])
    model.compile(optimizer="adam", loss=keras.losses.BinaryCrossentropy(from_logits=True))
    model.get_layer("logits").bias.assign([np.log(y.mean() / (1 - y.mean()))])
    result = loss_at_init(model, (x, y))
    assert result.status != "fail", result.line()  # was: "16% below the expected"
    sigmoid = keras.Sequential([keras.Input((5,)), layers.Dense(1, activation="sigmoid")])
    sigmoid.compile(optimizer="adam", loss="binary_crossentropy")
    assert loss_at_init(sigmoid, (x, y)).status != "fail"


def test_logits_into_a_probability_loss_fail():
    (x, y), _ = _iris()
    result = loss_at_init(_tutorial_classifier("sparse_categorical_crossentropy", None), (x, y))
    assert result.status == "fail" and "takes probabilities" in result.message


def test_no_gradient_at_all_warns_instead_of_failing():
    model = keras.Sequential([keras.Input((4,)), layers.Dense(8, activation="relu", use_bias=False),
                              layers.Dense(3)])  # fmt: skip
    model.compile(optimizer="adam", loss="mse")
    result = batch_independence(model, (np.zeros((4, 4), "float32"), np.zeros(4)))
    assert result.status == "warn" and "cannot be measured" in result.message


def test_a_check_that_raises_is_reported_and_the_others_run():
    (x, y), (xv, yv) = _iris()

    def build():
        inputs = keras.Input((4,))
        model = keras.Model(inputs, [layers.Dense(3)(inputs), layers.Dense(1)(inputs)])
        model.compile(optimizer="adam", loss=["mse", "mse"])
        return model

    report = run_checks(build, (x, y), (xv, yv), checks=("loss_at_init", "batch_independence"))
    first = report["loss_at_init"]
    assert first.status == "error" and first.message.startswith("could not run: ValueError")
    assert "2 losses" in first.message and len(report.results) == 2
    assert not first.passed or first.status != "pass"  # never counted as a pass
    assert "2 of 2 checks ran" not in report.summary() and "could not" in report.summary()
    assert "Traceback" in first.details["trace"]


def test_output_bias_of_an_uncompiled_model_reads_the_task_from_outputs_and_labels():
    model = keras.Sequential([keras.Input((4,)), layers.Dense(3, name="out")])
    bias = init_output_bias(model, np.array([0, 0, 0, 1, 2]))  # a classifier: log prior
    np.testing.assert_allclose(np.exp(bias) / np.exp(bias).sum(), [0.6, 0.2, 0.2], atol=1e-5)
    one = keras.Sequential([keras.Input((4,)), layers.Dense(1)])
    assert init_output_bias(one, np.array([0, 1, 1, 1]))[0] == pytest.approx(np.log(3))
    assert init_output_bias(one, np.array([150.0, 152.0]))[0] == pytest.approx(151.0)
