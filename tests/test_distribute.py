"""Training on several devices (``zoo.distribute``) gives the loss curve of one device at
the same global batch, on virtual CPU devices: XLA's forced host device count for JAX
(keras.distribution.DataParallel), two logical CPUs for TensorFlow (MirroredStrategy).
Each case runs in a fresh process, since the device count is fixed when the backend
starts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import keras
import pytest

from zoo.config import check_devices
from zoo.run import schema_problems

CURVES = r"""
import json, os, sys
backend = os.environ["KERAS_BACKEND"]
if backend == "tensorflow":
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras, numpy as np, zoo
from sklearn.datasets import load_digits
from zoo.config import resolve_steps_per_execution
from zoo.distribute import distributed, local_devices
from zoo.optim import compile_model
x, y = load_digits(return_X_y=True)
x, y = (x[:512] / 16).astype("float32"), y[:512]  # 16 full batches of 32: none partial
curves = {}
for devices in (1, 2):
    keras.utils.set_random_seed(1)  # the same initial weights for both
    with distributed(devices, 32) as engine:
        model = zoo.create_model("mlp", input_shape=(64,), num_classes=10)
        spe = resolve_steps_per_execution(None, devices=devices)
        compile_model(model, learning_rate=3e-3, steps_per_execution=spe)
        history = model.fit(x, y, batch_size=32, epochs=4, shuffle=False, verbose=0,
                            validation_data=(x[:96], y[:96]))
    curves[devices] = {"loss": history.history["loss"],
                       "val_loss": history.history["val_loss"],
                       "engine": type(engine).__name__}
print(json.dumps({"devices": local_devices(), "curves": curves}))
"""

ENV = {
    **os.environ,
    "XLA_FLAGS": "--xla_force_host_platform_device_count=2",
    "TF_CPP_MIN_LOG_LEVEL": "3",
}


def _curves(backend: str, tmp_path) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", CURVES, str(tmp_path)],
        env={**ENV, "KERAS_BACKEND": backend},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "backend,engine",
    [
        ("jax", "DataParallel"),
        pytest.param("tensorflow", "MirroredStrategy", marks=pytest.mark.slow),  # 20 s
    ],
)
def test_two_devices_give_the_loss_curve_of_one(backend, engine, tmp_path):
    """Same global batch, same learning rate, same initial weights: the per-epoch
    training and validation losses agree to 1e-4 relative (float rounding: the
    gradients are summed over devices in another order)."""
    if backend == "jax":
        pytest.importorskip("jax")
    result = _curves(backend, tmp_path)
    assert len(result["devices"]) == 2, result["devices"]
    one, two = result["curves"]["1"], result["curves"]["2"]
    assert one["engine"] == "NoneType" and two["engine"] == engine
    for key in ("loss", "val_loss"):
        assert len(one[key]) == len(two[key]) == 4
        for a, b in zip(one[key], two[key], strict=True):
            assert abs(a - b) <= 1e-4 * abs(a), (key, one[key], two[key])
    assert one["loss"][-1] < 0.5 * one["loss"][0]  # it trained


def test_devices_are_checked_before_anything_is_written(tmp_path):
    from zoo.distribute import device_count

    assert check_devices(None) is None and check_devices("all") == "all"
    assert check_devices("2") == 2
    for bad in (0, -1, "two", True, 1.5):
        with pytest.raises(ValueError, match="must be an integer >= 1 or 'all'"):
            check_devices(bad)
    assert device_count(None) == device_count(1) == 1
    backend = keras.backend.backend()
    refused = "on the torch backend" if backend == "torch" else f"but {backend} sees 1 here"
    with pytest.raises(ValueError, match=f"devices=8.*{refused}"):
        device_count(8)
    with pytest.raises(ValueError, match="on the torch backend"):
        device_count(2, backend="torch")

    from zoo.cli import main

    run = tmp_path / "run"
    assert main(["train", "digits", "--devices", "4", "--run-dir", str(run)]) != 0
    assert not run.exists()


@pytest.mark.slow
def test_a_two_device_run_resumes_on_one_and_exports(tmp_path):
    """`zoo train --devices 2` on JAX, stopped by SIGTERM in epoch 3, resumes with
    `--devices 1` (another device count is the same run), finishes and exports."""
    pytest.importorskip("jax")
    run = tmp_path / "run"
    base = [sys.executable, "-m", "zoo.cli", "train", "digits", "--model", "mlp",
            "--epochs", "4", "--patience", "100", "-v", "--run-dir", str(run)]  # fmt: skip
    env = {**ENV, "KERAS_BACKEND": "jax"}
    proc = subprocess.Popen(
        [*base, "--devices", "2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, env=env,
    )  # fmt: skip
    out = []
    for line in proc.stdout:
        out.append(line)
        if line.startswith("Epoch 3/"):
            proc.send_signal(signal.SIGTERM)
            break
    rest, err = proc.communicate(timeout=300)
    out = "".join(out) + rest
    assert "training on 2 devices: global batch 32 (16 per device)" in out
    assert proc.returncode == 128 + signal.SIGTERM, err[-2000:]
    done = subprocess.run(
        [*base, "--devices", "1"], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "2 of 4 epochs were done" in done.stdout
    assert "verified in a fresh TensorFlow process" in done.stdout
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["epochs_run"] == 4 and metrics["test"]["accuracy"] > 0.8


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


SHARDS = r"""
import json, sys
import keras, numpy as np
i, port, path = int(sys.argv[1]), sys.argv[2], sys.argv[3]
keras.distribution.initialize(f"localhost:{port}", 2, i)
from zoo.data import load
from zoo.distribute import distributed, even_batches
loaded = load(path, batch_size=32, seed=42)
train = even_batches(loaded.train, loaded.info.num_examples["train"], 2, 32)
with distributed("all", 32) as engine:
    batches = [np.asarray(x)[:, 0].tolist() for x, _ in engine.distribute_dataset(train)]
print(json.dumps({"batches": batches, "train": loaded.arrays("train")[0][:, 0].tolist()}))
"""


def _rows_csv(path, rows: int = 400):
    """Two classes of 8 normal features; 400 rows split 320 / 40 / 40: ten full
    batches of 32 for training."""
    import csv

    import numpy as np

    rng = np.random.default_rng(0)
    with open(path, "w", newline="") as f:
        out = csv.writer(f)
        out.writerow([f"f{i}" for i in range(8)] + ["label"])
        for n in range(rows):
            out.writerow([f"{v:.4f}" for v in rng.normal(n % 2, 1.0, 8)] + [n % 2])
    return path


def _two_processes(args_of, env) -> list[str]:
    """Run two processes of a cluster on this machine; their outputs, both checked."""
    port = _free_port()
    procs = [
        subprocess.Popen(
            args_of(i, port), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        for i in range(2)
    ]
    outputs = [p.communicate(timeout=600)[0] for p in procs]
    for p, out in zip(procs, outputs, strict=True):
        assert p.returncode == 0, out[-3000:]
    return outputs


@pytest.mark.slow
def test_two_processes_share_each_global_batch_and_train_as_one(tmp_path):
    """The multi-machine launch, with two processes on this machine (JAX's CPU
    collectives), one device each. Each process reads half of every global batch of
    32, and together they read every training row once an epoch; then `zoo train
    --coordinator --num-processes --process-id` runs one program: both processes log
    the same losses and export."""
    import csv

    import numpy as np

    path = _rows_csv(tmp_path / "rows.csv")
    env = {**ENV, "KERAS_BACKEND": "jax", "XLA_FLAGS": ""}
    shards = _two_processes(
        lambda i, port: [sys.executable, "-c", SHARDS, str(i), str(port), str(path)], env
    )
    read = [json.loads(out.strip().splitlines()[-1]) for out in shards]
    assert all(len(b) == 16 for r in read for b in r["batches"])  # half of 32 each
    assert len(read[0]["batches"]) == len(read[1]["batches"]) == 10
    seen = sorted(v for r in read for b in r["batches"] for v in b)
    # every training row once, none twice (standardized features, float32 apart)
    np.testing.assert_allclose(seen, sorted(read[0]["train"]), atol=1e-5)

    common = [sys.executable, "-m", "zoo", "train", str(path), "--epochs", "3", "--lr", "3e-3"]
    outputs = _two_processes(
        lambda i, port: [*common, "--devices", "all", "--coordinator", f"localhost:{port}",
                         "--num-processes", "2", "--process-id", str(i),
                         "--run-dir", str(tmp_path / f"p{i}")],  # fmt: skip
        env,
    )
    for out in outputs:
        assert "joined the cluster as process" in out and "training on 2 devices" in out

    def losses(run: str) -> np.ndarray:
        with open(tmp_path / run / "history.csv") as f:
            return np.array([float(r["loss"]) for r in csv.DictReader(f)])

    np.testing.assert_array_equal(losses("p0"), losses("p1"))  # one program, two processes
    assert losses("p0")[-1] < 0.5 * losses("p0")[0] + 0.2  # and it learns
    for run in ("p0", "p1"):
        metrics = json.loads((tmp_path / run / "metrics.json").read_text())
        assert metrics["test"]["accuracy"] > 0.85 and metrics["export"]["path"]


def test_recipe_on_two_devices_trains_on_both_and_records_it(tmp_path):
    """`zoo recipe --devices 2` runs the stages `zoo train` runs: the checks on one
    device, training on two (JAX, two virtual CPU devices), evaluation and export on
    one; metrics.json in the one schema says 2."""
    pytest.importorskip("jax")
    run = tmp_path / "run"
    done = subprocess.run(
        [sys.executable, "-m", "zoo.cli", "recipe", "iris", "--epochs", "2", "--devices", "2",
         "--run-dir", str(run)],
        capture_output=True, text=True, env={**ENV, "KERAS_BACKEND": "jax"}, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert "training on 2 devices: global batch 32 (16 per device)" in done.stdout
    assert "[5/5] export" in done.stdout
    # one quiet console: TensorFlow's start-up INFO lines are held back (zoo.backend)
    assert "I0000" not in done.stderr and "absl::InitializeLog" not in done.stderr
    metrics = json.loads((run / "metrics.json").read_text())
    assert not schema_problems(metrics), schema_problems(metrics)
    assert metrics["devices"] == 2 and metrics["epochs_run"] == 2 and metrics["passed"]
    assert json.loads((run / "config.json").read_text())["devices"] == 2
