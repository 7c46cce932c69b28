"""Every registered model against its contract (keras-hub's test_case, for the zoo)."""

import functools
import json

import keras
import numpy as np
import pytest

from zoo import count_macs, count_params, create_model, list_models, model_info
from zoo.registry import get_spec

# torchvision's published forward cost in GMACs (its "GFLOPS" column).
TORCHVISION_GMACS = {
    "resnet18": 1.81,
    "resnet34": 3.66,
    "resnet50": 4.09,
    "resnet101": 7.80,
    "resnet152": 11.51,
    "vgg11": 7.61,
    "vgg13": 11.31,
    "vgg16": 15.47,
    "vgg19": 19.63,
    "vgg11_bn": 7.61,
    "vgg13_bn": 11.31,
    "vgg16_bn": 15.47,
    "vgg19_bn": 19.63,
}
# The figures the issue names, written out once more so that a change to the registry
# table cannot move them silently.
PUBLISHED = {
    "resnet18": 11_689_512,
    "resnet50": 25_557_032,
    "vgg16": 138_357_544,
    "cifar_resnet20": 269_722,
    "cifar_resnet56": 853_018,
}
# Rows whose code path a smaller row of the same family runs already (resnet18 the
# basic block and resnet50 the bottleneck; vgg11 and vgg16 with and without
# BatchNormalization; cifar_resnet20) run the per-model contract tests under -m slow
# only: they cost most of the time and add no path. Every model's exact size is
# checked in the default run.
DEEP = {
    "resnet34",
    "resnet101",
    "resnet152",
    "cifar_resnet32",
    "cifar_resnet44",
    "cifar_resnet56",
    "cifar_resnet110",
    "vgg13",
    "vgg13_bn",
    "vgg19",
    "vgg19_bn",
}
ALL = list_models()
FAST_FIRST = [pytest.param(n, marks=pytest.mark.slow) if n in DEEP else n for n in ALL]


def small_variant(name: str, **extra):
    """The model at a small size, for the fast contract tests."""
    family = get_spec(name).family
    kwargs = {"num_classes": 3}
    if family in ("vgg", "resnet"):
        kwargs.update(input_shape=(64, 64, 3), width_multiplier=0.125)
    if family == "vgg":
        kwargs.update(dropout=0.0)
    if family == "cifar_resnet":
        kwargs.update(input_shape=(16, 16, 3), width_multiplier=0.5)
    kwargs.update(extra)
    return create_model(name, **kwargs)


@functools.cache
def built(name: str):
    """``small_variant(name)``, built once per test session for the tests that only read
    it (structure, serialization, the regularizer-free default)."""
    return small_variant(name)


def batch_for(model, n=8, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, size=(n, *model.input_shape[1:])).astype("float32")
    y = rng.integers(0, model.output_shape[-1], size=(n,))
    return x, y


def test_published_figures_are_the_registry_figures():
    for name, params in PUBLISHED.items():
        assert model_info(name)["params"] == params


@pytest.fixture
def zero_init(monkeypatch):
    """Random initializers fill with zeros instead: sizes and shapes are the same, and
    VGG-16's 138M weights take 0.1 s instead of 3 s to build."""

    def zeros(self, shape, dtype=None):
        return keras.ops.zeros(shape, dtype=dtype or "float32")

    for cls in (
        keras.initializers.VarianceScaling,  # Glorot, He, LeCun
        keras.initializers.RandomNormal,
        keras.initializers.RandomUniform,
        keras.initializers.TruncatedNormal,
    ):
        monkeypatch.setattr(cls, "__call__", zeros)
    yield
    keras.backend.clear_session(free_memory=True)  # VGG's weights are 0.5 GB each


@pytest.mark.parametrize("name", ALL)
def test_exact_size_at_default_input(name, zero_init):
    model = create_model(name)
    assert not any(float(keras.ops.max(keras.ops.abs(w))) for w in model.weights[:1])
    spec = get_spec(name)
    assert model.input_shape[1:] == spec.input_shape
    assert model.output_shape == (None, spec.num_classes)
    assert count_params(model) == spec.params
    assert count_macs(model) == spec.macs
    if name in TORCHVISION_GMACS:
        assert spec.macs / 1e9 == pytest.approx(TORCHVISION_GMACS[name], abs=0.006)


@pytest.mark.parametrize("name", FAST_FIRST)
def test_one_training_step_lowers_the_loss(name):
    # Plain SGD with a small step must lower the loss measured in the same (training)
    # mode; train_on_batch reports the loss of the weights it starts from. The batch is
    # 32 and ImageNet models see 64x64: with 8 examples and 1x1 maps, BatchNormalization
    # over near-constant channels makes deep, narrow nets' loss jump under tiny steps.
    model = small_variant(name)
    x, y = batch_for(model, n=32)
    model.compile(
        optimizer=keras.optimizers.SGD(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    before = model.train_on_batch(x, y)
    after = model.train_on_batch(x, y)
    assert np.isfinite(before) and np.isfinite(after)
    assert after < before


@pytest.mark.parametrize("name", FAST_FIRST)
def test_config_round_trip(name):
    model = built(name)
    restored = keras.models.model_from_json(json.dumps(json.loads(model.to_json())))
    assert [layer.name for layer in restored.layers] == [layer.name for layer in model.layers]
    restored.set_weights(model.get_weights())
    x, _ = batch_for(model, n=2)
    np.testing.assert_allclose(
        restored.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5, atol=1e-5
    )


@pytest.mark.parametrize("name", FAST_FIRST)
def test_keras_file_round_trip_in_safe_mode(name, tmp_path):
    model = built(name)
    path = tmp_path / f"{name}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    x, _ = batch_for(model, n=2)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


@pytest.mark.parametrize("name", FAST_FIRST)
def test_forward_under_mixed_bfloat16(name):
    keras.config.set_dtype_policy("mixed_bfloat16")
    model = small_variant(name)
    x, _ = batch_for(model, n=2)
    out = model(x, training=False)
    assert keras.backend.standardize_dtype(out.dtype) == "float32"  # a stable loss
    assert np.all(np.isfinite(keras.ops.convert_to_numpy(out)))
    assert any(w.dtype == "float32" for w in model.weights)  # variables stay float32


@pytest.mark.parametrize("name", FAST_FIRST)
def test_regularizer_adds_to_losses(name):
    plain = built(name)
    assert not plain.losses
    model = small_variant(name, regularizer="l2:1e-3")
    kernels = [w for layer in model.layers if hasattr(layer, "kernel") for w in [layer.kernel]]
    assert len(model.losses) == len(kernels)
    assert float(keras.ops.sum(keras.ops.stack(model.losses))) > 0


@pytest.mark.parametrize("name", FAST_FIRST)
def test_layers_are_named_explicitly(name):
    model = built(name)
    names = [layer.name for layer in model.layers]
    assert len(names) == len(set(names))
    # Keras' automatic names look like "conv2d_3" or "dense"; none may appear.
    auto = [
        n
        for n in names
        if n.split("_")[0]
        in {"conv2d", "dense", "batch", "activation", "add", "max", "dropout", "flatten"}
    ]
    assert not auto, auto


@pytest.mark.parametrize("name", FAST_FIRST)
def test_no_bias_before_batch_norm(name):
    model = built(name)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            node = layer._inbound_nodes[0]
            parent = node.parent_nodes[0].operation
            if isinstance(parent, (keras.layers.Conv2D, keras.layers.Dense)):
                assert not parent.use_bias, f"{parent.name} has a bias before {layer.name}"
