"""What makes a FAIL trustworthy: the checks use the program's own weights and
validation, read losses in the mode training uses, see through weightless layers,
take several inputs, stay within a time budget, and never count a check that could
not run as a pass."""

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from zoo.checks import ALL_CHECKS, check
from zoo.checks.base import reusable
from zoo.checks.program import SideBySide, row_weights
from zoo.checks.runner import plan_steps

RNG = np.random.default_rng(0)


def _compiled(model, loss="sparse_categorical_crossentropy", optimizer="adam"):
    model.compile(optimizer=optimizer, loss=loss)
    return model


def test_row_weights_are_keras_sample_weight_times_class_weight():
    y = np.array([0, 1, 1, 2])
    assert row_weights(y) is None
    np.testing.assert_allclose(row_weights(y, class_weight={1: 5.0}), [1, 5, 5, 1])
    one_hot = keras.utils.to_categorical(y, 3)
    np.testing.assert_allclose(
        row_weights(one_hot, sample_weight=np.array([1, 2, 1, 2]), class_weight={2: 3.0}),
        [1, 2, 1, 6],
    )
    binary = np.array([[0.0], [1.0]])
    np.testing.assert_allclose(row_weights(binary, class_weight={0: 1.0, 1: 9.0}), [1, 9])


def test_rare_classes_in_a_hold_out_zoo_made_itself_are_not_blamed_on_the_split():
    x = RNG.normal(size=(300, 6)).astype("float32")
    y = (x[:, 0] > 0).astype("int64")
    y[-2:] = 2  # a rare third class, last rows (only zoo's own hold-out could get it)
    inputs = keras.Input((6,))
    model = _compiled(keras.Model(inputs, layers.Dense(3, activation="softmax")(inputs)))
    report = check(model, x, y, checks=("labels",))
    assert report["labels"].status == "pass", report["labels"].message
    # the program's own validation_split holding the class: that split is the program's
    report = check(model, x, y, validation_split=0.01, checks=("labels",))
    assert report["labels"].status == "fail" and "validation_split" in report["labels"].message


def test_a_subclassed_model_with_dropout_is_reproducible():
    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.hidden = layers.Dense(16, activation="relu")
            self.drop = layers.Dropout(0.5)
            self.out = layers.Dense(2, activation="softmax")

        def call(self, x, training=False):
            return self.out(self.drop(self.hidden(x), training=training))

    x = RNG.normal(size=(200, 5)).astype("float32")
    y = (x[:, 0] > 0).astype("int64")
    report = check(_compiled(Net()), x, y, checks=("reproducibility",))
    assert report["reproducibility"].status == "pass", report["reproducibility"].message


def test_a_weightless_lambda_that_standardizes_is_seen_through():
    x = np.exp(RNG.normal(3, 1, size=(400, 4))).astype("float32")  # raw, skewed, large
    y = (np.log(x[:, 0]) > 3).astype("int64")
    model = keras.Sequential([
        keras.Input((4,)),
        layers.Lambda(lambda t: (keras.ops.log(t) - 3.0)),
        layers.Dense(8, activation="relu"),
        layers.Dense(2, activation="softmax"),
    ])  # fmt: skip
    report = check(_compiled(model), x, y, checks=("input_scale",))
    assert report["input_scale"].status == "pass", report["input_scale"].message
    assert "Lambda" in report["input_scale"].message


def test_two_inputs_as_a_list_are_checked_like_one():
    a = RNG.normal(size=(400, 4)).astype("float32")
    b = RNG.integers(0, 20, size=(400, 3))
    y = (a[:, 0] > 0).astype("int64")
    ia, ib = keras.Input((4,)), keras.Input((3,), dtype="int32")
    eb = layers.Flatten()(layers.Embedding(20, 2)(ib))
    h = layers.Dense(8, activation="relu")(layers.Concatenate()([ia, eb]))
    model = _compiled(keras.Model([ia, ib], layers.Dense(2, activation="softmax")(h)))
    side = SideBySide([a, b])
    assert side.flatten([a, b]).shape == (400, 7)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(side.wrap(model)(side.flatten([a[:3], b[:3]]))),
        keras.ops.convert_to_numpy(model([a[:3], b[:3]])), rtol=1e-6,
    )  # fmt: skip
    report = check(model, [a, b], y, validation_data=([a[:50], b[:50]], y[:50]))
    assert not report.errored and not report.failed, report.summary()
    assert f"{len(ALL_CHECKS)} of {len(ALL_CHECKS)} checks ran" in report.summary()


def test_batch_norm_lagging_in_inference_mode_is_its_own_finding_not_a_failed_loss():
    # unstandardized features into Dense -> BatchNormalization (momentum 0.99): after
    # 100 steps the moving statistics still lag, so inference mode reads badly while
    # training mode learns
    x = RNG.uniform(0, 255, size=(1024, 8)).astype("float32")
    y = (x[:, 0] > 127).astype("int64")
    model = keras.Sequential([
        keras.Input((8,)),
        layers.Dense(32, use_bias=False),
        layers.BatchNormalization(),
        layers.ReLU(),
        layers.Dense(2, activation="softmax"),
    ])  # fmt: skip
    report = check(_compiled(model, optimizer=keras.optimizers.Adam(1e-2)), x, y,
                   checks=("loss_decreasing", "inference_mode"))  # fmt: skip
    assert report["loss_decreasing"].status == "pass", report["loss_decreasing"].message
    found = report["inference_mode"]
    assert found.status == "warn" and "BatchNormalization" in found.message, found.message


def test_a_large_batch_is_cut_to_fit_the_time_budget_and_the_plan_says_so():
    x = RNG.normal(size=(4096, 64)).astype("float32")
    y = (x[:, 0] > 0).astype("int64")

    def build():
        return _compiled(keras.Sequential([
            keras.Input((64,)), layers.Dense(512, activation="relu"),
            layers.Dense(512, activation="relu"), layers.Dense(2),
        ]), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))  # fmt: skip

    plan = plan_steps(reusable(build), (x, y), 2048, budget=1.0)
    assert plan["batch_size"] < 2048 or plan["steps"]["loss_decreasing"] < 100, plan
    assert "budget" in plan["note"]
    assert plan_steps(reusable(build), (x, y), 2048, budget=None)["batch_size"] == 2048


def test_no_rows_is_refused_with_the_reason():
    inputs = keras.Input((3,))
    model = _compiled(keras.Model(inputs, layers.Dense(2)(inputs)))
    try:
        check(model, np.zeros((0, 3), "float32"), np.zeros((0,), "int64"))
    except ValueError as err:
        assert "0 rows" in str(err)
    else:
        raise AssertionError("no error for empty data")


def test_a_custom_train_step_is_stepped_through_fit_as_the_keras_guide_writes_it():
    class CustomModel(keras.Model):  # the Keras guide's, `x, y = data`
        def train_step(self, data):
            x, y = data
            with tf.GradientTape() as tape:
                y_pred = self(x, training=True)
                loss = self.compute_loss(y=y, y_pred=y_pred)
            self.optimizer.apply(tape.gradient(loss, self.trainable_variables),
                                 self.trainable_variables)  # fmt: skip
            for metric in self.metrics:
                if metric.name == "loss":
                    metric.update_state(loss)
            return {m.name: m.result() for m in self.metrics}

    x = RNG.random((400, 8)).astype("float32")
    y = x @ RNG.normal(size=(8, 1)).astype("float32")
    inputs = keras.Input((8,))
    model = CustomModel(inputs, layers.Dense(1)(inputs))
    model.compile(optimizer="adam", loss="mse")
    report = check(model, x, y)
    assert not report.errored and not report.failed, report.summary()


def test_text_into_an_adapted_text_vectorization_keeps_its_vocabulary():
    words = np.array(["good great fine", "bad awful poor", "great fine good", "poor bad awful"])
    labels = np.repeat([1, 0, 1, 0], 50)
    texts = np.repeat(words, 50)
    vectorize = layers.TextVectorization(max_tokens=20, output_sequence_length=3)
    vectorize.adapt(texts)
    inputs = keras.Input((1,), dtype="string")
    h = layers.GlobalAveragePooling1D()(layers.Embedding(20, 4)(vectorize(inputs)))
    model = keras.Model(inputs, layers.Dense(1, activation="sigmoid")(h))
    model.compile(optimizer="adam", loss="binary_crossentropy")
    report = check(model, texts.reshape(-1, 1), labels)
    assert not report.errored and not report.failed, report.summary()
