"""The last squeeze: ensembles combine exactly what they say and export as one model;
cross-fitting trains each member on every row but its own part and ships their average;
the Distiller's losses are the formulas and its student learns the teacher; fine-tuning
keeps a frozen backbone (BatchNormalization statistics included) untouched."""

import keras
import numpy as np
import pytest

from zoo.distill import Distiller
from zoo.ensemble import ensemble, members
from zoo.finetune import finetune_model, frozen_state, set_trainable, stages
from zoo.registry import create_model


def _softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _mlp(seed, classes=3, features=4):
    keras.utils.set_random_seed(seed)
    return create_model("mlp", input_shape=(features,), num_classes=classes, hidden=[8])


def test_ensemble_combines_members_and_saves_loads_exports(tmp_path):
    from zoo.data import load
    from zoo.export import export_and_verify

    data = load("iris", seed=3)
    x = data.arrays("test")[0]
    a, b, c = (_mlp(s) for s in (1, 2, 3))
    za, zb, zc = (m.predict(x, verbose=0) for m in (a, b, c))
    model = ensemble([a, b, c])
    probs = _softmax(model.predict(x, verbose=0))
    np.testing.assert_allclose(probs, (_softmax(za) + _softmax(zb) + _softmax(zc)) / 3, atol=1e-6)
    logits = ensemble([a, b, c], combine="logits").predict(x, verbose=0)
    np.testing.assert_allclose(logits, (za + zb + zc) / 3, atol=1e-5)

    model.save(tmp_path / "ensemble.keras")
    again = keras.models.load_model(tmp_path / "ensemble.keras")
    np.testing.assert_allclose(again.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
    assert len(members(again)) == 3
    export = export_and_verify(model, data, tmp_path)  # one SavedModel (PyTorch: ONNX)
    assert max(export["max_abs_diff"].values()) <= 1e-5

    # Binary (one logit): the mean of the sigmoids, as a logit.
    p, q = _mlp(4, classes=1), _mlp(5, classes=1)
    zp, zq = p.predict(x, verbose=0), q.predict(x, verbose=0)
    mean = (1 / (1 + np.exp(-zp)) + 1 / (1 + np.exp(-zq))) / 2
    out = ensemble([p, q]).predict(x, verbose=0)
    np.testing.assert_allclose(1 / (1 + np.exp(-out)), mean, atol=1e-6)
    out = ensemble([p, q], task="regression").predict(x, verbose=0)
    np.testing.assert_allclose(out, (zp + zq) / 2, atol=1e-5)

    with pytest.raises(ValueError, match="member 1 .* must be interchangeable"):
        ensemble([a, _mlp(6, classes=2)])
    with pytest.raises(ValueError, match="at least 2"):
        ensemble([a])
    with pytest.raises(ValueError, match="combine='mean'"):
        ensemble([a, b], combine="mean")


def test_distiller_losses_are_the_formulas_and_the_student_learns_the_teacher():
    teacher, student = _mlp(1), _mlp(2)
    d = Distiller(teacher, student, temperature=3.0, alpha=0.25)
    t = np.array([[2.0, 0.5, -1.0], [0.0, 1.0, 3.0]], "float32")
    s = np.array([[0.5, 0.5, 0.5], [1.0, -1.0, 0.0]], "float32")
    p, q = _softmax(t / 3), _softmax(s / 3)
    kl = np.mean(np.sum(p * (np.log(p) - np.log(q)), -1)) * 9
    assert float(d._soft(t, s)) == pytest.approx(kl, rel=1e-5)
    assert float(d._soft(t, t)) == pytest.approx(0.0, abs=1e-6)
    y = np.array([0, 2])
    hard = -np.mean(np.log(_softmax(s)[[0, 1], y]))
    assert float(d._hard(y, s)) == pytest.approx(hard, rel=1e-5)

    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 4)).astype("float32")
    y = teacher.predict(x, verbose=0).argmax(1)
    teacher_weights = [w.copy() for w in teacher.get_weights()]
    gap_before = np.abs(
        _softmax(student.predict(x, verbose=0)) - _softmax(teacher.predict(x, verbose=0))
    ).mean()
    # alpha=0: the teacher's probabilities are the only target (an untrained teacher's
    # are near uniform, which hard labels would pull the student away from).
    d = Distiller(teacher, student, temperature=2.0, alpha=0.0)
    d.compile(optimizer=keras.optimizers.Adam(1e-2), metrics=["accuracy"])
    history = d.fit(x, y, validation_data=(x[:64], y[:64]), epochs=15, batch_size=32, verbose=0)
    h = history.history
    assert {"loss", "hard_loss", "soft_loss", "accuracy", "val_soft_loss"} <= set(h)
    assert h["soft_loss"][-1] < 0.5 * h["soft_loss"][0]
    gap_after = np.abs(
        _softmax(student.predict(x, verbose=0)) - _softmax(teacher.predict(x, verbose=0))
    ).mean()
    assert gap_after < 0.5 * gap_before
    for before, after in zip(teacher_weights, teacher.get_weights(), strict=True):
        np.testing.assert_array_equal(before, after)  # the teacher never moves
    np.testing.assert_allclose(d.predict(x[:8], verbose=0), student.predict(x[:8], verbose=0))

    with pytest.raises(ValueError, match="temperature=0"):
        Distiller(teacher, student, temperature=0)
    with pytest.raises(ValueError, match="do not pass loss"):
        d.compile(optimizer="adam", loss="mse")
    with pytest.raises(ValueError, match="same outputs"):
        Distiller(teacher, _mlp(3, classes=2))


def test_finetune_freezes_by_stage_and_keeps_batchnorm_statistics(tmp_path):
    keras.utils.set_random_seed(1)
    source = create_model("convnet", input_shape=(8, 8, 1), num_classes=3, width_multiplier=0.25)
    rng = np.random.default_rng(0)
    x = rng.normal(2.0, 3.0, size=(64, 8, 8, 1)).astype("float32")  # far from BN's stats
    source.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(True))
    source.fit(x, rng.integers(0, 3, 64), epochs=1, verbose=0)
    source.save(tmp_path / "source.keras")

    model = finetune_model(tmp_path / "source.keras", 2)
    assert model.output_shape == (None, 2)
    assert stages(model) == ["stage1", "stage2", "stage3"]
    y = rng.integers(0, 2, 64)

    def fit():
        model.compile(optimizer=keras.optimizers.Adam(1e-2),
                      loss=keras.losses.SparseCategoricalCrossentropy(True))  # fmt: skip
        model.fit(x, y, epochs=2, batch_size=16, verbose=0)

    frozen = frozen_state(model)
    assert any("moving_mean" in k for k in frozen) and any("kernel" in k for k in frozen)
    head = model.get_layer("new_logits").kernel.numpy().copy()
    fit()
    for k, v in frozen_state(model).items():
        np.testing.assert_array_equal(v, frozen[k], err_msg=k)
    assert not np.array_equal(head, model.get_layer("new_logits").kernel.numpy())

    # The last stage unfrozen: its kernels move, every BN statistic stays (inference mode).
    assert set_trainable(model, ["stage2"]) == ["stage2"]
    assert set_trainable(model, 1) == ["stage3"]
    backbone = model.get_layer("backbone")
    kernel = backbone.get_layer("stage3_conv1_conv").kernel.numpy().copy()
    stats = {v.path: v.numpy().copy() for v in backbone.weights if "moving" in v.path}
    fit()
    assert not np.array_equal(kernel, backbone.get_layer("stage3_conv1_conv").kernel.numpy())
    for v in backbone.weights:
        if "moving" in v.path:
            np.testing.assert_array_equal(v.numpy(), stats[v.path], err_msg=v.path)
    assert not backbone.get_layer("stage3_conv1_bn").trainable

    # The trap zoo avoids: the usual advice, a backbone called with training=False and
    # its BN layers left trainable, loses to fit's training=True in Keras 3.
    naive_backbone = keras.models.load_model(tmp_path / "source.keras")
    inputs = keras.Input((8, 8, 1))
    features = keras.Model(naive_backbone.input, naive_backbone.layers[-2].output)
    naive = keras.Model(inputs, keras.layers.Dense(2)(features(inputs, training=False)))
    bn = naive_backbone.get_layer("stage1_conv1_bn")
    mean = bn.moving_mean.numpy().copy()
    naive.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(True))
    naive.fit(x, y, epochs=1, batch_size=16, verbose=0)
    assert not np.array_equal(mean, bn.moving_mean.numpy())  # the statistics drifted

    with pytest.raises(ValueError, match="'stage9'.*not among the stages"):
        set_trainable(model, ["stage9"])
    with pytest.raises(FileNotFoundError, match="no such checkpoint"):
        finetune_model(tmp_path / "missing.keras", 2)
    headless = create_model("convnet", input_shape=(8, 8, 1), include_top=False, pooling="avg")
    with pytest.raises(ValueError, match="not the Dense logits layer"):
        finetune_model(headless, 2)


def test_refit_folds_partition_the_rows_stratified_where_classes_allow():
    from zoo.data.splits import refit_folds

    y = np.array([0] * 30 + [1] * 12 + [2] * 3)
    rows = np.arange(40, 85)[::-1] - 40  # every row, in an order of their own
    for n, stratified in ((3, True), (4, False)):  # class 2 has 3 rows: 4 folds can't split it
        parts = refit_folds(y, rows, n, seed=7)
        assert len(parts) == n
        vals = np.concatenate([v for _, v in parts])
        assert sorted(vals.tolist()) == sorted(rows.tolist())  # each row validates once
        for train, val in parts:
            assert sorted(np.concatenate([train, val]).tolist()) == sorted(rows.tolist())
            assert not set(train) & set(val)
        ones = [int((y[v] == 1).sum()) for _, v in parts]
        assert (max(ones) - min(ones) <= 1) or not stratified
    with pytest.raises(ValueError, match="1 folds of 45 rows"):
        refit_folds(y, rows, 1)


def test_cross_fit_trains_each_member_on_every_row_but_its_own_part(tmp_path, monkeypatch):
    import zoo.train as train
    from zoo.run import load_for
    from zoo.train import TrainConfig, cross_fit

    config, loaded = load_for(TrainConfig(data="diabetes", model="mlp", epochs=1, seed=5))
    seen, real_fit = [], train.fit

    def recording_fit(model, part, config, run_dir, **kw):
        seen.append((part.indices, part.info.num_examples, config.seed))
        return real_fit(model, part, config, run_dir, **kw)

    monkeypatch.setattr(train, "fit", recording_fit)
    model, members_ = cross_fit(config, loaded, tmp_path / "members", folds=2)
    every = set(loaded.indices["train"]) | set(loaded.indices["val"])
    assert len(members_) == len(seen) == 2 and [s for *_, s in seen] == [5, 6]
    vals = []
    for indices, count, _ in seen:
        train_rows, val_rows = set(indices["train"]), set(indices["val"])
        assert train_rows | val_rows == every and not train_rows & val_rows
        assert not every & set(indices["test"])  # the test rows stay out of every member
        assert count["train"] == len(train_rows) and count["val"] == len(val_rows)
        vals += list(val_rows)
    assert sorted(vals) == sorted(every)  # each row stops exactly one member early
    assert all((tmp_path / "members" / f"member-{j}" / "best.keras").exists() for j in range(2))
    x, _ = loaded.arrays("test")
    mean = np.mean([m.predict(x, verbose=0) for m in members_], axis=0)
    np.testing.assert_allclose(model.predict(x, verbose=0), mean, rtol=1e-5, atol=1e-4)
