import keras
import numpy as np
import pytest

import zoo
from zoo import blocks


def test_regularizer_specs():
    assert blocks.get_regularizer(None) is None
    l2 = blocks.get_regularizer("l2:1e-4")
    assert isinstance(l2, keras.regularizers.L2) and float(l2.l2) == pytest.approx(1e-4)
    l1 = blocks.get_regularizer("L1:1e-5")
    assert isinstance(l1, keras.regularizers.L1) and float(l1.l1) == pytest.approx(1e-5)
    both = blocks.get_regularizer("l1l2:1e-5,1e-4")
    assert float(both.l1) == pytest.approx(1e-5) and float(both.l2) == pytest.approx(1e-4)
    ready = keras.regularizers.L2(0.1)
    assert blocks.get_regularizer(ready) is ready


@pytest.mark.parametrize("bad", ["l2", "l3:1e-4", "l2:abc", "l1l2:1e-4", 0.1, "l2:1,2"])
def test_bad_regularizer_spec_says_the_accepted_forms(bad):
    with pytest.raises(ValueError, match="l1l2:1e-5,1e-4") as err:
        blocks.get_regularizer(bad)
    assert repr(bad) in str(err.value)


def test_negative_regularizer_strength_is_refused():
    with pytest.raises(ValueError, match="negative"):
        blocks.get_regularizer("l2:-1")


def test_max_norm_constraint_is_applied():
    inputs = keras.Input((4,))
    out = blocks.dense_block(inputs, 3, max_norm=1.0, name="d")
    model = keras.Model(inputs, out)
    layer = model.get_layer("d_dense")
    assert isinstance(layer.kernel_constraint, keras.constraints.MaxNorm)
    layer.kernel.assign(np.full((4, 3), 5.0, "float32"))
    model.compile(optimizer="sgd", loss="mse")
    model.train_on_batch(np.ones((2, 4)), np.zeros((2, 3)))
    norms = np.linalg.norm(layer.kernel.numpy(), axis=0)
    assert np.all(norms <= 1.0 + 1e-5)
    with pytest.raises(ValueError, match="max_norm"):
        blocks.get_constraint(-1)


@pytest.mark.parametrize("name", ["relu", "leaky_relu", "sigmoid", "tanh", "softmax", "gelu"])
def test_activations_by_name(name):
    inputs = keras.Input((5,))
    out = blocks.dense_block(inputs, 4, activation=name, name="d")
    model = keras.Model(inputs, out)
    assert model.get_layer("d_act").get_config()["activation"] == name


def test_unknown_activation_lists_the_names():
    with pytest.raises(ValueError, match="leaky_relu"):
        blocks.dense_block(keras.Input((3,)), 2, activation="relu6x", name="d")


def test_maxout_takes_the_max_of_each_group_and_serializes(tmp_path):
    layer = blocks.Maxout(3, name="mo")
    x = np.array([[1, 5, 2, -1, -3, -2]], "float32")
    np.testing.assert_array_equal(layer(x), [[5, -1]])
    inputs = keras.Input((4,))
    out = blocks.dense_block(inputs, 2, activation="maxout", maxout_pieces=3, name="d")
    model = keras.Model(inputs, out)
    assert model.get_layer("d_dense").units == 6 and model.output_shape == (None, 2)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    x = np.random.default_rng(0).normal(size=(3, 4)).astype("float32")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    with pytest.raises(ValueError, match="divisible"):
        blocks.Maxout(4)(np.ones((1, 6), "float32"))


def test_conv_bn_act_orders_and_bias():
    inputs = keras.Input((8, 8, 3))
    post = keras.Model(inputs, blocks.conv_bn_act(inputs, 4, name="c"))
    assert [layer.name for layer in post.layers[1:]] == ["c_conv", "c_bn", "c_act"]
    assert not post.get_layer("c_conv").use_bias
    pre = keras.Model(inputs, blocks.conv_bn_act(inputs, 4, preactivation=True, name="c"))
    assert [layer.name for layer in pre.layers[1:]] == ["c_bn", "c_act", "c_conv"]
    plain = keras.Model(inputs, blocks.conv_bn_act(inputs, 4, batch_norm=False, name="c"))
    assert plain.get_layer("c_conv").use_bias


def test_strided_conv_pads_like_pytorch():
    inputs = keras.Input((7, 7, 1))
    out = blocks.conv_bn_act(inputs, 1, 3, 2, batch_norm=False, activation=None, name="c")
    model = keras.Model(inputs, out)
    assert model.output_shape == (None, 4, 4, 1)  # same as "same": ceil(7 / 2)
    conv = model.get_layer("c_conv")
    kernel = np.zeros((3, 3, 1, 1), "float32")
    kernel[0, 0] = 1.0  # picks the top-left neighbour, which is padding at (0, 0)
    conv.set_weights([kernel, np.zeros(1, "float32")])
    x = np.arange(49, dtype="float32").reshape(1, 7, 7, 1) + 1
    y = model.predict(x, verbose=0)[0, :, :, 0]
    assert y[0, 0] == 0 and y[1, 1] == x[0, 1, 1, 0]  # symmetric one-pixel padding


def test_spatial_dropout_drops_whole_maps():
    inputs = keras.Input((6, 6, 16))
    out = blocks.conv_bn_act(inputs, 16, dropout=0.5, name="c")
    model = keras.Model(inputs, out)
    assert isinstance(model.get_layer("c_drop"), keras.layers.SpatialDropout2D)
    y = model(np.ones((1, 6, 6, 16), "float32"), training=True).numpy()
    per_map = y.reshape(36, 16)
    assert np.all((per_map == 0).all(axis=0) | (per_map != 0).any(axis=0))
    assert (per_map == 0).all(axis=0).sum() > 0


def test_mlp_head_shapes_and_dropout():
    inputs = keras.Input((4, 4, 8))
    out = blocks.mlp_head(inputs, 5, hidden=(16, 8), dropout=0.3, name="h")
    model = keras.Model(inputs, out)
    names = [layer.name for layer in model.layers]
    assert names[1] == "h_avg_pool" and "h_fc1_drop" in names and "h_fc2_drop" in names
    assert model.output_shape == (None, 5)
    flat = keras.Model(inputs, blocks.mlp_head(inputs, 3, pooling="flatten", name="h"))
    assert flat.get_layer("h_logits").kernel.shape == (128, 3)


def test_logits_start_small_so_loss_at_init_is_log_c():
    inputs = keras.Input((32,))
    x = blocks.dense_block(inputs, 64, name="d")
    model = keras.Model(inputs, blocks.logits_layer(x, 10, name="logits"))
    x = np.random.default_rng(0).normal(size=(256, 32)).astype("float32")
    y = np.random.default_rng(1).integers(0, 10, 256)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(y, model(x))
    assert float(loss) == pytest.approx(np.log(10), abs=0.05)


@pytest.mark.parametrize("size", [4, 5])
def test_zero_pad_shortcut_is_option_a_in_stock_layers(size):
    """Subsample and zero-pad with stock layers; the same as the layer older files hold."""
    inputs = keras.Input((size, size, 4))
    model = keras.Model(inputs, blocks.zero_pad_shortcut(inputs, 8, 2, name="s"))
    assert all(type(layer).__module__.startswith("keras.") for layer in model.layers)
    x = np.arange(2 * size * size * 4, dtype="float32").reshape(2, size, size, 4)
    y = keras.ops.convert_to_numpy(model(x))
    half = (size + 1) // 2
    assert y.shape == (2, half, half, 8) and model.output_shape == (None, half, half, 8)
    np.testing.assert_array_equal(y[..., 2:6], x[:, ::2, ::2, :])
    assert not y[..., :2].any() and not y[..., 6:].any()
    layer = blocks.ZeroPadShortcut(8, 2)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(x)), y)
    assert layer.compute_output_shape((None, size, size, 4)) == (None, half, half, 8)
    with pytest.raises(ValueError, match="cannot shrink 4 channels to 2"):
        blocks.zero_pad_shortcut(inputs, 2, 1, name="t")


@pytest.mark.parametrize("kind,extra_params", [("projection", 4 * 8 + 2 * 8), ("zero_pad", 0)])
def test_shortcut_kinds(kind, extra_params):
    inputs = keras.Input((8, 8, 4))
    out = blocks.basic_block(inputs, 8, 2, shortcut=kind, name="b")
    model = keras.Model(inputs, out)
    body = 9 * 4 * 8 + 9 * 8 * 8 + 2 * (2 * 8)
    assert sum(int(np.prod(w.shape)) for w in model.trainable_weights) == body + extra_params
    assert model.output_shape == (None, 4, 4, 8)


def test_identity_shortcut_when_shapes_agree():
    inputs = keras.Input((4, 4, 8))
    model = keras.Model(inputs, blocks.basic_block(inputs, 8, name="b"))
    assert not any("shortcut" in layer.name for layer in model.layers)


def test_zero_init_residual_starts_blocks_as_identity():
    inputs = keras.Input((4, 4, 16))
    x = blocks.bottleneck_block(inputs, 4, zero_init_residual=True, name="b")
    model = keras.Model(inputs, x)
    v = np.abs(np.random.default_rng(0).normal(size=(2, 4, 4, 16))).astype("float32")
    np.testing.assert_allclose(model.predict(v, verbose=0), v, atol=1e-6)


def test_preactivation_basic_block_builds():
    inputs = keras.Input((8, 8, 4))
    out = blocks.basic_block(inputs, 8, 2, preactivation=True, name="p")
    model = keras.Model(inputs, out)
    assert model.layers[1].name == "p_preact_bn" and model.output_shape == (None, 4, 4, 8)


@pytest.mark.parametrize("policy", ["float32", "mixed_bfloat16"])
def test_fused_batch_norm_matches_keras_batch_normalization(policy):
    """A fused BatchNormalization (one kernel on TensorFlow) gives Keras' outputs,
    moving statistics and gradients, in training and inference, in float32 and mixed
    bf16; so does the subclass that older files hold."""
    import tensorflow as tf

    rng = np.random.default_rng(0)
    x = tf.constant(rng.normal(2.0, 3.0, size=(8, 5, 5, 7)).astype("float32"))
    w = tf.constant(rng.normal(size=(8, 5, 5, 7)).astype("float32"))
    ref = keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5, dtype=policy)
    ours = blocks.fuse_batch_norm(
        keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5, dtype=policy)
    )
    old = blocks.BatchNorm(momentum=0.9, epsilon=1e-5, dtype=policy)
    for layer in (ref, ours, old):
        layer.build(x.shape)
    ref.gamma.assign(rng.uniform(0.5, 1.5, 7))
    ref.beta.assign(rng.normal(size=7))
    ours.set_weights(ref.get_weights())
    old.set_weights(ref.get_weights())
    np.testing.assert_allclose(
        np.float32(old(x, training=False)), np.float32(ours(x, training=False)), atol=1e-6
    )
    tol = 1e-5 if policy == "float32" else 2e-2
    for _ in range(2):  # two steps: the moving averages move
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(x)
            loss_ref = tf.reduce_sum(tf.cast(ref(x, training=True), "float32") * w)
            loss_ours = tf.reduce_sum(tf.cast(ours(x, training=True), "float32") * w)
        for a, b in zip(
            tape.gradient(loss_ref, [x, ref.gamma, ref.beta]),
            tape.gradient(loss_ours, [x, ours.gamma, ours.beta]),
            strict=True,
        ):
            np.testing.assert_allclose(b, a, rtol=tol, atol=tol * np.abs(a).max())
    for a, b in zip(ref.get_weights(), ours.get_weights(), strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        np.float32(ours(x, training=False)), np.float32(ref(x, training=False)), atol=tol
    )


def test_fused_batch_norm_is_one_fused_kernel_and_serializes(tmp_path):
    """The conv blocks' BN really takes the fused path (a silent fallback to Keras' op
    chain would pass the equivalence test and lose the speed); the file holds a stock
    BatchNormalization that plain Keras loads, and ``zoo.load_model`` fuses it again."""
    import tensorflow as tf

    inputs = keras.Input((6, 6, 3))
    model = keras.Model(inputs, blocks.conv_bn_act(inputs, 4, name="c"))
    assert type(model.get_layer("c_bn")) is keras.layers.BatchNormalization

    def ops_used(model):
        graph = (
            tf.function(lambda t: model(t, training=True))
            .get_concrete_function(tf.TensorSpec((2, 6, 6, 3)))
            .graph.as_graph_def()
        )
        return {node.op for node in graph.node}

    assert "FusedBatchNormV3" in ops_used(model) and "Mean" not in ops_used(model)
    x = np.random.default_rng(1).normal(size=(2, 6, 6, 3)).astype("float32")
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    assert type(loaded.get_layer("c_bn")) is keras.layers.BatchNormalization
    assert "FusedBatchNormV3" not in ops_used(loaded)  # plain Keras: Keras' op chain
    np.testing.assert_allclose(loaded(x), model(x), atol=1e-5)
    rezoo = zoo.load_model(tmp_path / "m.keras")
    assert "FusedBatchNormV3" in ops_used(rezoo)
    np.testing.assert_allclose(rezoo(x), model(x), atol=1e-6)
