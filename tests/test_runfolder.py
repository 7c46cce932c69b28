"""Run folders: every file written whole or not at all, JSON that NumPy values reach,
metrics merged, the config read back as it was written."""

import json
import os

import keras
import numpy as np
import pytest

from zoo.config import TrainConfig, read_config
from zoo.runfolder import (
    atomic_path,
    new_run_dir,
    save_model,
    update_metrics,
    write_config,
    write_json,
    write_text,
)


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = write_text(tmp_path / "report.md", "old\n")
    with pytest.raises(OSError, match="disk full"):
        with atomic_path(path) as tmp:
            tmp.write_text("half of the n")
            raise OSError("disk full")
    assert path.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.md"]


def test_a_folder_is_replaced_only_by_a_complete_one(tmp_path):
    target = tmp_path / "export"
    with atomic_path(target) as tmp:
        tmp.mkdir()
        (tmp / "a").write_text("1")
    with atomic_path(target) as tmp:
        tmp.mkdir()
        (tmp / "b").write_text("2")
    assert [p.name for p in target.iterdir()] == ["b"]
    assert [p.name for p in tmp_path.iterdir()] == ["export"]


def test_json_takes_numpy_and_metrics_merge_one_level(tmp_path):
    path = tmp_path / "metrics.json"
    write_json(path, {"test": {"accuracy": np.float32(0.5)}, "counts": np.arange(3)})
    assert json.loads(path.read_text()) == {"test": {"accuracy": 0.5}, "counts": [0, 1, 2]}
    merged = update_metrics(path, {"test": {"loss": 1.0}, "export": {"path": "x"}})
    assert merged == {
        "test": {"accuracy": 0.5, "loss": 1.0},
        "counts": [0, 1, 2],
        "export": {"path": "x"},
    }
    assert json.loads(path.read_text()) == merged
    path.write_text("{not json")
    with pytest.raises(ValueError, match="metrics.json is not valid JSON"):
        update_metrics(path, {"a": 1})


def test_config_round_trip_and_unknown_keys(tmp_path):
    config = TrainConfig(data="iris", image_size=(8, 8), fold=(1, 5), model_kwargs={"h": [4]})
    write_config(tmp_path, config)
    assert read_config(tmp_path) == config  # tuples come back as tuples
    (tmp_path / "config.json").write_text(json.dumps({"data": "iris", "lr": 1}))
    with pytest.raises(ValueError, match=r"unknown config keys \['lr'\]"):
        read_config(tmp_path)
    with pytest.raises(ValueError, match="no config.json"):
        read_config(tmp_path / "elsewhere")


def test_model_saved_whole_or_not_at_all(tmp_path, monkeypatch):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, name="out")])
    path = save_model(model, tmp_path / "model.keras")
    before = path.read_bytes()

    def crash(self, filepath, *args, **kwargs):
        with open(filepath, "wb") as f:
            f.write(b"PK\x03\x04 truncated")
        raise KeyboardInterrupt

    monkeypatch.setattr(keras.Model, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        save_model(model, path)
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["model.keras"]


def test_new_run_dir_never_reuses_a_folder(tmp_path):
    first = new_run_dir("mlp-iris", root=tmp_path)
    second = new_run_dir("mlp-iris", root=tmp_path)
    assert first != second and first.is_dir() and second.is_dir()
    assert new_run_dir("tfds:mnist/x", root=tmp_path).name.startswith("tfds-mnist-x-")


def test_steps_per_execution_is_chosen_per_backend_and_a_refused_value_is_named():
    from zoo.config import DEFAULTS, resolve_steps_per_execution

    assert DEFAULTS.steps_per_execution is None  # zoo's choice, per backend
    assert resolve_steps_per_execution(None, "tensorflow") == 8
    assert resolve_steps_per_execution(None, "jax") == 8
    assert resolve_steps_per_execution(None, "torch") == 1  # PyTorch refuses more
    assert resolve_steps_per_execution(4, "jax") == 4  # the user's value wins
    assert resolve_steps_per_execution(1, "torch") == 1
    with pytest.raises(ValueError, match="PyTorch backend runs one training step per call"):
        resolve_steps_per_execution(8, "torch")
    with pytest.raises(ValueError, match="must be an integer >= 1"):
        resolve_steps_per_execution(0, "tensorflow")
