"""An int8 model for the edge: full-integer post-training quantization of the exported
SavedModel, and the float32 and int8 TFLite files compared side by side in the TFLite
interpreter (test-split score, latency per image, file size).

Every op of the int8 file runs in int8 (``TFLITE_BUILTINS_INT8``: the conversion fails
rather than keep a float op); weights and activations are quantized, the activation
ranges calibrated on a representative sample of the training split (raw inputs, as the
export takes them). Inputs and outputs stay float32, so the file takes the same raw
values and returns the same ``probabilities`` / ``prediction`` as the float export.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np

from zoo.runfolder import atomic_path

#: training examples the activation ranges are calibrated on
CALIBRATION_EXAMPLES = 200

# Runs in a fresh process with the TFLite interpreter only: outputs on every test
# example, and the median latency of one image (batch 1) after warm-up.
_SCORE = r"""
import json, sys, time, warnings
import numpy as np
warnings.simplefilter("ignore")
try:
    from ai_edge_litert.interpreter import Interpreter
except ImportError:
    from tensorflow.lite.python.interpreter import Interpreter
x_file, repeats, paths = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
x = np.load(x_file)
served = []
for path in paths:
    runner = Interpreter(model_path=path, num_threads=1).get_signature_runner("serving_default")
    outputs = {}
    for i in range(len(x)):
        for k, v in runner(inputs=x[i:i + 1]).items():
            outputs.setdefault(k, []).append(np.asarray(v)[0])
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        runner(inputs=x[:1])
        times.append(time.perf_counter() - start)
    served.append({"outputs": {k: np.asarray(v).tolist() for k, v in outputs.items()},
                   "latency_ms": 1000 * float(np.median(times[repeats // 5:]))})
print(json.dumps(served))
"""


def export_tflite_int8(savedmodel, path, representative: np.ndarray) -> Path:
    """The SavedModel at ``savedmodel`` quantized to int8 at ``path`` (see the module
    doc), calibrated on ``representative`` (raw inputs; the first
    ``CALIBRATION_EXAMPLES``), written to a temporary file and renamed into place."""
    import tensorflow as tf

    sample = np.asarray(representative, "float32")[:CALIBRATION_EXAMPLES]

    def examples():
        for row in sample:
            yield {"inputs": row[None]}

    converter = tf.lite.TFLiteConverter.from_saved_model(str(savedmodel))
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = examples
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        blob = converter.convert()
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_bytes(blob)
    return path


def score_tflite(paths, x: np.ndarray, y: np.ndarray, task: str, repeats: int = 100) -> list:
    """Each TFLite file of ``paths`` run in one fresh TFLite-interpreter process on ``x``
    (raw inputs), one example at a time: its score against ``y`` (accuracy; MAE for
    regression), the median latency per image in milliseconds (one thread, batch 1),
    its size in bytes, and its predictions."""
    with tempfile.TemporaryDirectory() as tmp:
        x_file = Path(tmp) / "x.npy"
        np.save(x_file, np.asarray(x, "float32"))
        done = subprocess.run(
            [sys.executable, "-c", _SCORE, str(x_file), str(repeats), *map(str, paths)],
            capture_output=True,
            text=True,
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        )
    if done.returncode != 0:
        raise RuntimeError(
            f"{', '.join(map(str, paths))} did not run in a fresh TFLite interpreter:\n"
            f"{done.stderr[-2000:]}"
        )
    results = []
    for path, served in zip(paths, json.loads(done.stdout.strip().splitlines()[-1]), strict=True):
        result = {"latency_ms": served["latency_ms"], "size_bytes": Path(path).stat().st_size}
        key = "class_id" if task == "classification" else "prediction"
        predicted = np.asarray(served["outputs"][key]).reshape(-1)
        truth = np.asarray(y).reshape(-1)
        if task == "classification":
            result["accuracy"] = float(np.mean(predicted == truth))
        else:
            result["mae"] = float(np.mean(np.abs(predicted - truth)))
        result["predicted"] = predicted
        results.append(result)
    return results


def compare_float_and_int8(float_path, int8_path, x, y, task: str) -> dict:
    """Both TFLite files scored on the same examples (``score_tflite``): each one's
    figures, and how often the int8 model predicts what the float32 one does (the
    class, or within 1% of the target's spread for regression)."""
    float32, int8 = score_tflite([float_path, int8_path], x, y, task)
    a, b = float32.pop("predicted"), int8.pop("predicted")
    if task == "classification":
        agreement = float(np.mean(a == b))
    else:
        agreement = float(np.mean(np.abs(a - b) <= 0.01 * (np.std(y) or 1.0)))
    return {"float32": float32, "int8": int8, "agreement": agreement, "examples": len(x)}


def int8_line(record: dict) -> str:
    """One line for the console: score, latency and size, float32 against int8."""
    f, q = record["float32"], record["int8"]
    metric = "accuracy" if "accuracy" in f else "mae"
    return (
        f"TFLite int8 {record['path']}: test {metric} {q[metric]:.4f} (float32 {f[metric]:.4f}), "
        f"{q['latency_ms']:.3f} ms per image (float32 {f['latency_ms']:.3f}), "
        f"{q['size_bytes'] / 1024:.0f} KB (float32 {f['size_bytes'] / 1024:.0f} KB); "
        f"{record['agreement']:.1%} of {record['examples']} test predictions as float32's"
    )
