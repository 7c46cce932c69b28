"""A run's ``model.keras`` and ``best.keras`` take the raw inputs the SavedModel export
takes and give its outputs (``zoo.packaged``): loaded in a process that never imports
zoo, with ``keras.saving.load_model(path, safe_mode=True)``, on TensorFlow and on JAX,
for an image run (digits, 0-16 pixels) and a table (wine, unstandardized features).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
import zipfile

import keras
import numpy as np
import pytest

from zoo.cli import main

READ = r"""
import json, sys, zipfile
import numpy as np
import keras
folder, runs = sys.argv[1], sys.argv[2].split(",")
out = {"backend": keras.backend.backend()}
for name in runs:
    x = np.load(f"{folder}/{name}.x.npy")
    got = {}
    for file in ("model.keras", "best.keras"):
        path = f"{folder}/{name}/{file}"
        model = keras.saving.load_model(path, safe_mode=True)
        pred = model.predict(x, verbose=0)
        got[file] = {k: np.asarray(v).tolist() for k, v in pred.items()}
    got["class_names"] = json.loads(zipfile.ZipFile(path).read("zoo.json"))["class_names"]
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf
        serve = tf.saved_model.load(f"{folder}/{name}/export").signatures["serving_default"]
        got["export"] = {k: v.numpy().tolist() for k, v in serve(inputs=tf.constant(x)).items()}
    out[name] = got
assert not any(m == "zoo" or m.startswith("zoo.") for m in sys.modules)
print(json.dumps(out))
"""


def _read(backend: str, folder, names) -> dict:
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(
        [sys.executable, "-c", READ, str(folder), ",".join(names)],
        cwd=folder,  # not the project: nothing of zoo's on the path
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two finished runs and raw test inputs for each, beside them."""
    from zoo.config import read_config
    from zoo.run import load_for

    folder = tmp_path_factory.mktemp("packaged")
    argv = {
        "digits": ["digits", "--model", "tiny_convnet", "--epochs", "2", "--lr", "0.01"],
        "wine": ["wine", "--epochs", "3", "--lr", "0.01"],
    }
    names = {}
    for name, args in argv.items():
        assert main(["train", *args, "--run-dir", str(folder / name)]) == 0
        _, loaded = load_for(read_config(folder / name))
        x = loaded.arrays("test", preprocessed=False)[0][:32].astype("float32")
        np.save(folder / f"{name}.x.npy", x)
        names[name] = loaded.info.class_names
    return folder, names


def test_model_keras_answers_raw_inputs_as_the_export_does_without_zoo(runs):
    folder, names = runs
    got = _read("tensorflow", folder, list(names))
    for name, classes in names.items():
        run = got[name]
        assert run["class_names"] == list(classes)
        export = {k: np.asarray(v) for k, v in run["export"].items()}
        assert set(export) == {"probabilities", "class_id"}
        for file in ("model.keras", "best.keras"):
            assert set(run[file]) == set(export), (name, file)
        model = {k: np.asarray(v) for k, v in run["model.keras"].items()}
        assert np.abs(model["probabilities"] - export["probabilities"]).max() < 1e-5, name
        assert np.array_equal(model["class_id"], export["class_id"]), name
        assert np.allclose(np.asarray(run["best.keras"]["probabilities"]).sum(axis=1), 1, atol=1e-5)
    # The trained network alone fed the same raw inputs answers otherwise: what the test
    # above would catch if the preprocessing were left out of the file.
    from zoo import load_network

    x = np.load(folder / "digits.x.npy")
    network = load_network(folder / "digits" / "model.keras")
    assert network.input_shape[1:] == x.shape[1:]
    alone = keras.ops.convert_to_numpy(keras.ops.softmax(network(x)))
    export = np.asarray(got["digits"]["export"]["probabilities"])
    assert np.abs(alone - export).max() > 1e-2


def test_model_keras_written_on_tensorflow_answers_the_same_on_jax(runs):
    pytest.importorskip("jax")
    folder, names = runs
    tf_side = _read("tensorflow", folder, ["wine"])["wine"]["export"]
    jax_side = _read("jax", folder, ["wine"])
    assert jax_side["backend"] == "jax"
    got = {k: np.asarray(v) for k, v in jax_side["wine"]["model.keras"].items()}
    assert np.abs(got["probabilities"] - np.asarray(tf_side["probabilities"])).max() < 1e-4
    assert np.array_equal(got["class_id"], np.asarray(tf_side["class_id"]))


def test_zoo_json_and_the_network_inside(runs):
    """``zoo.json`` names the task, classes, features and the network; ``load_network``
    gives the network back, the one evaluation and fine-tuning take."""
    from zoo import load_network
    from zoo.packaged import read_info

    folder, names = runs
    info = read_info(folder / "wine" / "model.keras")
    assert info["task"] == "classification" and info["input_shape"] == [13]
    assert len(info["feature_names"]) == 13 and info["outputs"] == ["probabilities", "class_id"]
    with zipfile.ZipFile(folder / "wine" / "model.keras") as archive:
        assert {"config.json", "model.weights.h5", "zoo.json"} <= set(archive.namelist())
    network = load_network(folder / "wine" / "model.keras")
    assert network.name == info["network"] and network.output_shape == (None, 3)
    assert read_info(folder / "wine.x.npy") is None  # not an archive: no package


def test_best_model_saves_on_improvement_only_and_says_once_what_is_missing(tmp_path):
    from zoo.callbacks import BestModel

    saved = []
    best = BestModel(tmp_path / "best.keras", save=lambda model, path: saved.append(path))
    best.set_model(keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]))
    for epoch, loss in enumerate([1.0, 0.5, 0.7, 0.4]):
        best.on_epoch_end(epoch, {"val_loss": loss})
    assert len(saved) == 3 and best.best == 0.4
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for epoch in range(3):
            best.on_epoch_end(epoch, {"loss": 0.1})
    assert len(caught) == 1 and "val_loss" in str(caught[0].message)


def test_best_model_resumed_keeps_the_best_of_the_epochs_before(tmp_path):
    """After a resume, the best so far is read from history.csv: a worse epoch does
    not replace the best.keras the interrupted run left."""
    from zoo.callbacks import BestModel

    (tmp_path / "best.keras").write_bytes(b"the interrupted run's best")
    (tmp_path / "history.csv").write_text("epoch,loss,val_loss\n0,1.0,0.5\n1,0.8,0.3\n")
    saved = []
    best = BestModel(tmp_path / "best.keras", save=lambda m, p: saved.append(p),
                     history=tmp_path / "history.csv")  # fmt: skip
    best.set_model(keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]))
    best.on_train_begin()
    best.on_epoch_end(2, {"val_loss": 0.4})
    assert saved == [] and best.best == 0.3
    best.on_epoch_end(3, {"val_loss": 0.2})
    assert len(saved) == 1
