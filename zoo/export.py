"""Export: a SavedModel that takes raw inputs and returns probabilities and class ids
(or the regression value), written atomically and verified in a fresh process that
imports only TensorFlow."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

_VERIFY = r"""
import json, sys
import numpy as np
import tensorflow as tf
path, x_file = sys.argv[1], sys.argv[2]
fn = tf.saved_model.load(path).signatures["serving_default"]
out = fn(inputs=tf.constant(np.load(x_file)))
print(json.dumps({k: v.numpy().tolist() for k, v in out.items()}))
"""


def serving_model(model, preprocess=None, task: str = "classification"):
    """Wrap a logits model: raw inputs -> ``preprocess`` -> model -> a dict of
    ``probabilities`` and ``class_id`` (classification) or ``prediction`` (regression)."""
    import keras
    from keras import layers, ops

    inputs = keras.Input(shape=model.input_shape[1:], name="inputs")
    x = preprocess(inputs) if preprocess is not None else inputs
    logits = model(x)
    if task == "regression":
        return keras.Model(inputs, {"prediction": logits}, name="serving")
    if task != "classification":
        raise ValueError(f'task={task!r} must be "classification" or "regression".')
    if logits.shape[-1] == 1:
        probabilities = layers.Activation("sigmoid", name="probabilities")(logits)
        class_id = ops.cast(probabilities[:, 0] > 0.5, "int64")
    else:
        probabilities = layers.Activation("softmax", name="probabilities")(logits)
        class_id = ops.argmax(probabilities, axis=-1)
    return keras.Model(
        inputs, {"probabilities": probabilities, "class_id": class_id}, name="serving"
    )


def export_savedmodel(serving, path: str | os.PathLike, *, verbose: bool = False) -> Path:
    """Write ``serving`` as a SavedModel at ``path``: first into a temporary folder
    beside it, then renamed into place, so a failure never leaves a half-written export
    and an export already at ``path`` is replaced only by a complete one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
    try:
        serving.export(str(tmp), format="tf_saved_model", verbose=verbose)
        if path.exists():
            old = path.with_name(f".{path.name}.old-{os.getpid()}")
            path.rename(old)
            tmp.rename(path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return path


def verify_savedmodel(path: str | os.PathLike, x: np.ndarray, expected: dict, atol=1e-5) -> dict:
    """Load the SavedModel in a fresh Python process that imports only TensorFlow, run
    ``x`` through its serving signature and compare with ``expected`` (the in-memory
    outputs). Returns the largest absolute difference per output; raises
    ``RuntimeError`` naming the output that differs."""
    with tempfile.TemporaryDirectory() as tmp:
        x_file = Path(tmp) / "x.npy"
        np.save(x_file, np.asarray(x))
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
        done = subprocess.run(
            [sys.executable, "-c", _VERIFY, str(path), str(x_file)],
            capture_output=True,
            text=True,
            env=env,
        )
    if done.returncode != 0:
        raise RuntimeError(
            f"The export at {path} did not load in a fresh TensorFlow process:\n"
            f"{done.stderr[-2000:]}"
        )
    served = json.loads(done.stdout.strip().splitlines()[-1])
    diffs = {}
    for key, want in expected.items():
        if key not in served:
            raise RuntimeError(
                f"The export at {path} has no output {key!r}; it has {list(served)}."
            )
        got = np.asarray(served[key])
        diffs[key] = float(np.max(np.abs(got - np.asarray(want)))) if got.size else 0.0
        if diffs[key] > atol:
            raise RuntimeError(
                f"The export at {path} gives {key!r} up to {diffs[key]:.2e} away from the "
                f"model in memory (allowed {atol:.0e})."
            )
    return diffs
