"""A ``.keras`` file of a registered model holds only stock Keras layers: it loads with
``keras.saving.load_model(path, safe_mode=True)`` in a process that never imports zoo,
on TensorFlow and on JAX, and gives the outputs it gave when it was saved.

One model per family by default; every registered model under ``-m slow``, written on
JAX too."""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import pytest

ROOT = Path(__file__).resolve().parent.parent
FAMILIES = ["mlp", "cifar_resnet20"]  # dense; conv, BN, option-A shortcut

def write_models(folder: str, names: list[str]) -> None:
    """Each model of ``names`` saved in ``folder`` with a test input and its outputs."""
    import keras
    import numpy as np

    import zoo

    rng = np.random.default_rng(0)
    for name in names:
        tabular = len(zoo.model_info(name)["input_shape"]) == 1
        shape = (16,) if tabular else (32, 32, 3)
        model = zoo.create_model(name, input_shape=shape, num_classes=3)
        # moving statistics and weights away from their initial values
        for w in model.weights:
            w.assign(np.asarray(w) + rng.normal(0, 0.05, w.shape).astype(w.dtype))
        x = rng.normal(size=(4, *shape)).astype("float32")
        np.save(f"{folder}/{name}.x.npy", x)
        np.save(f"{folder}/{name}.y.npy", keras.ops.convert_to_numpy(model(x, training=False)))
        model.save(f"{folder}/{name}.keras")


WRITE = (
    "import sys, keras\n"
    + inspect.getsource(write_models)
    + "write_models(sys.argv[1], sys.argv[2].split(','))\nprint(keras.backend.backend())\n"
)

READ = """
import json, sys, zipfile
import numpy as np
import keras
folder, names = sys.argv[1], sys.argv[2].split(",")
worst = {}
for name in names:
    path = f"{folder}/{name}.keras"
    config = json.loads(zipfile.ZipFile(path).read("config.json"))
    model = keras.saving.load_model(path, safe_mode=True)
    x, y = np.load(f"{folder}/{name}.x.npy"), np.load(f"{folder}/{name}.y.npy")
    out = keras.ops.convert_to_numpy(model(x, training=False))
    worst[name] = float(np.abs(out - y).max() / max(np.abs(y).max(), 1e-6))
    assert "zoo>" not in json.dumps(config), name  # no registered zoo class in the file
assert not any(m == "zoo" or m.startswith("zoo.") for m in sys.modules)
print(json.dumps({"backend": keras.backend.backend(), "worst": worst}))
"""


def _run(code: str, backend: str, *args: str, cwd: Path) -> str:
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip().splitlines()[-1]


def _round_trip(tmp_path, names, writer: str, readers: tuple[str, ...]):
    folder = tmp_path / writer
    folder.mkdir()
    if writer == keras.backend.backend():  # this process has zoo imported already
        write_models(str(folder), names)
    else:
        assert _run(WRITE, writer, str(folder), ",".join(names), cwd=ROOT) == writer
    for reader in readers:
        # READ asserts that nothing imported zoo (a file naming a zoo class would)
        result = json.loads(_run(READ, reader, str(folder), ",".join(names), cwd=folder))
        assert result["backend"] == reader
        assert set(result["worst"]) == set(names)
        tolerance = 1e-5 if reader == writer else 1e-4
        for name, error in result["worst"].items():
            assert error <= tolerance, (writer, reader, name, error)


def test_saved_models_load_without_zoo_on_jax(tmp_path):
    """Written here (TensorFlow, where the fused batch norm is attached), read on JAX
    (the slow test below reads on TensorFlow too, every model)."""
    pytest.importorskip("jax")
    _round_trip(tmp_path, FAMILIES, "tensorflow", ("jax",))


@pytest.mark.slow
def test_every_registered_model_loads_without_zoo(tmp_path):
    pytest.importorskip("jax")
    import zoo

    names = zoo.list_models()
    _round_trip(tmp_path, names, "tensorflow", ("tensorflow", "jax"))
    _round_trip(tmp_path, names, "jax", ("jax", "tensorflow"))
