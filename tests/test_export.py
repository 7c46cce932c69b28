import keras
import numpy as np
import pytest

from zoo import create_model
from zoo.data import load_bundled, preprocessing_layer
from zoo.export import export_savedmodel, serving_model, verify_savedmodel


@pytest.fixture(scope="module")
def wine():
    return load_bundled("wine")


def test_export_takes_raw_inputs_and_verifies_in_a_fresh_process(wine, tmp_path):
    model = create_model("mlp", input_shape=wine.input_shape, num_classes=3, hidden=(8,))
    serving = serving_model(
        model, preprocessing_layer(wine, np.arange(len(wine))), "classification"
    )
    path = export_savedmodel(serving, tmp_path / "export")
    x = wine.x[:5]
    expected = {k: keras.ops.convert_to_numpy(v) for k, v in serving(x).items()}
    np.testing.assert_allclose(expected["probabilities"].sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(expected["class_id"], expected["probabilities"].argmax(1))
    diffs = verify_savedmodel(path, x, expected)
    assert set(diffs) == {"probabilities", "class_id"} and max(diffs.values()) <= 1e-5
    wrong = {**expected, "probabilities": expected["probabilities"] + 0.1}
    with pytest.raises(RuntimeError, match="probabilities"):
        verify_savedmodel(path, x, wrong)


def test_failed_export_keeps_the_previous_one(wine, tmp_path):
    model = create_model("linear", input_shape=wine.input_shape, num_classes=3)
    serving = serving_model(model, None, "classification")
    path = export_savedmodel(serving, tmp_path / "export")
    before = sorted(p.name for p in path.iterdir())

    class Broken:
        def export(self, *args, **kwargs):
            raise OSError("disk full")

    with pytest.raises(OSError):
        export_savedmodel(Broken(), path)
    assert sorted(p.name for p in path.iterdir()) == before
    assert [p.name for p in tmp_path.iterdir()] == ["export"]  # no temporary left behind


def test_regression_export(tmp_path):
    data = load_bundled("diabetes")
    model = create_model("mlp", input_shape=data.input_shape, num_classes=1, hidden=(4,))
    serving = serving_model(model, preprocessing_layer(data, np.arange(len(data))), "regression")
    path = export_savedmodel(serving, tmp_path / "export")
    expected = {"prediction": keras.ops.convert_to_numpy(serving(data.x[:4])["prediction"])}
    verify_savedmodel(path, data.x[:4], expected)
