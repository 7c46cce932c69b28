import numpy as np
import pytest

from zoo.data import DataError, load, split_indices


def test_digits_splits_are_stratified_deterministic_and_disjoint():
    a = load("digits", seed=7)
    b = load("digits", seed=7)
    for split in ("train", "val", "test"):
        np.testing.assert_array_equal(a.indices[split], b.indices[split])
    all_rows = np.concatenate(list(a.indices.values()))
    assert len(all_rows) == len(set(all_rows)) == 1797
    counts = a.info.label_stats["counts"]
    share = np.array(counts["test"]) / sum(counts["test"])
    assert np.all(np.abs(share - 0.1) < 0.02)  # ten balanced classes stay balanced
    assert a.info.input_shape == (8, 8, 1) and a.info.num_classes == 10


def test_pipeline_yields_scaled_batches():
    loaded = load("digits", batch_size=16)
    x, y = next(iter(loaded.train))
    assert x.shape == (16, 8, 8, 1) and y.shape == (16,)
    assert float(np.min(x)) >= 0.0 and float(np.max(x)) <= 1.0


def test_tabular_standardization_uses_training_rows_only():
    loaded = load("breast_cancer", seed=3)
    x_train, _ = loaded.arrays("train")
    np.testing.assert_allclose(x_train.mean(axis=0), 0.0, atol=1e-4)
    np.testing.assert_allclose(x_train.std(axis=0), 1.0, atol=1e-3)
    x_test, _ = loaded.arrays("test")
    assert np.abs(x_test.mean(axis=0)).max() > 1e-3  # test statistics were not used


def test_regression_metadata():
    loaded = load("diabetes")
    assert loaded.info.task == "regression" and loaded.info.num_classes == 1
    assert loaded.info.label_stats["target"]["train"]["mean"] > 100


def test_bad_fractions():
    with pytest.raises(ValueError, match="no training data"):
        split_indices(np.zeros(10), val_fraction=0.5, test_fraction=0.5)


def write(tmp_path, text, name="data.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_csv_with_string_labels(tmp_path):
    rows = ["a,b,label"] + [f"{i},{i % 3},{'cat' if i % 2 else 'dog'}" for i in range(40)]
    loaded = load(write(tmp_path, "\n".join(rows)))
    assert loaded.info.class_names == ["cat", "dog"] and loaded.info.feature_names == ["a", "b"]
    assert sum(loaded.info.num_examples.values()) == 40


def test_csv_without_the_label_column_lists_the_columns(tmp_path):
    path = write(tmp_path, "a,b,target\n1,2,0\n3,4,1\n")
    with pytest.raises(DataError, match="are 'a', 'b', 'target'"):
        load(path)
    assert load(path, label="target", val_fraction=0, test_fraction=0).info.num_classes == 2


def test_csv_text_in_a_numeric_column_names_column_and_line(tmp_path):
    path = write(tmp_path, "a,b,label\n1,2,0\n3,high,1\n")
    with pytest.raises(DataError, match=r"column 'b', line 3: 'high'"):
        load(path)


def test_csv_missing_values_are_named(tmp_path):
    path = write(tmp_path, "a,b,label\n1,,0\n3,NaN,1\n4,5,1\n")
    with pytest.raises(DataError, match=r"column 'b': 2 missing"):
        load(path)


def test_single_class_is_refused(tmp_path):
    rows = ["a,label"] + [f"{i},yes" for i in range(10)]
    with pytest.raises(DataError, match="at least two classes"):
        load(write(tmp_path, "\n".join(rows)))


def test_missing_file_and_unknown_name(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load(tmp_path / "nope.csv")
    with pytest.raises(DataError, match="Did you mean digits"):
        load("digit")


def test_constant_feature_is_named_in_a_warning(tmp_path):
    rows = ["a,flat,label"] + [f"{i},7,{i % 2}" for i in range(30)]
    with pytest.warns(UserWarning, match="flat"):
        load(write(tmp_path, "\n".join(rows)))


def test_fold_splits_partition_the_rows():
    from zoo.data import load

    tests = []
    for k in range(5):
        loaded = load("wine", fold=(k, 5), seed=3)
        idx = loaded.indices
        assert not set(idx["train"]) & set(idx["test"]) and not set(idx["val"]) & set(idx["test"])
        assert len(idx["train"]) + len(idx["val"]) + len(idx["test"]) == 178
        counts = np.bincount(loaded.data.y[idx["test"]], minlength=3)
        assert counts.min() >= 9  # stratified: 59/71/48 rows per class, a fifth each
        tests.append(idx["test"])
    assert sorted(np.concatenate(tests).tolist()) == list(range(178))
    with pytest.raises(ValueError, match="fold"):
        load("wine", fold=(5, 5))


def test_a_shuffled_order_depends_on_its_seed_alone():
    """The same seed gives the same order whether or not the process was seeded
    before (two runs in one process used to differ), and the global seed is put back."""
    import keras
    import tensorflow as tf

    from zoo.data.shuffle import shuffled

    ds = tf.data.Dataset.range(50)
    tf.random.set_seed(None)
    first = list(shuffled(ds, 50, 7).as_numpy_iterator())
    keras.utils.set_random_seed(123)
    again = list(shuffled(ds, 50, 7).as_numpy_iterator())
    assert first == again and first != list(range(50))
    assert tf.compat.v1.random.get_seed(1)[0] == 123
