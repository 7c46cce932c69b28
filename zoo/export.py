"""Export: a SavedModel that takes raw inputs and returns probabilities and class ids
(or the regression value), written atomically and verified in a fresh process that
imports only TensorFlow."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import keras
import numpy as np

from zoo.config import FLAGS, check_export_backend  # noqa: F401  (zoo.export's API)
from zoo.packaged import float32_model, serving_model  # noqa: F401  (zoo.export's API)
from zoo.quantize import compare_float_and_int8, export_tflite_int8
from zoo.runfolder import atomic_path, write_text

# Each verifier runs in a fresh process that imports only the runtime of its format.
_VERIFY = r"""
import contextlib, io, json, sys
import numpy as np
import tensorflow as tf
path, x_file = sys.argv[1], sys.argv[2]
fn = tf.saved_model.load(path).signatures["serving_default"]
out = fn(inputs=tf.constant(np.load(x_file)))
listing = None
if "--signature" in sys.argv:
    # What `saved_model_cli show --tag_set serve --signature_def serving_default`
    # prints, from the function the tool calls, in this process that has TensorFlow
    # loaded already (the tool would start another).
    try:
        from tensorflow.python.tools import saved_model_cli
        text = io.StringIO()
        with contextlib.redirect_stdout(text):
            saved_model_cli._show_inputs_outputs(path, "serve", "serving_default")
        listing = text.getvalue().strip()
    except Exception:
        listing = None
print(json.dumps({"outputs": {k: v.numpy().tolist() for k, v in out.items()},
                  "signature": listing}))
"""

_VERIFY_ONNX = r"""
import json, sys
import numpy as np
import onnxruntime as ort
path, x_file = sys.argv[1], sys.argv[2]
session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
names = [o.name for o in session.get_outputs()]
out = session.run(None, {session.get_inputs()[0].name: np.load(x_file)})
print(json.dumps({"outputs": {k: v.tolist() for k, v in zip(names, out)}}))
"""

_VERIFY_TFLITE = r"""
import json, sys, warnings
import numpy as np
warnings.simplefilter("ignore")
try:
    from ai_edge_litert.interpreter import Interpreter
except ImportError:
    from tensorflow.lite.python.interpreter import Interpreter
path, x_file = sys.argv[1], sys.argv[2]
runner = Interpreter(model_path=path).get_signature_runner("serving_default")
out = runner(inputs=np.load(x_file))
print(json.dumps({"outputs": {k: np.asarray(v).tolist() for k, v in out.items()}}))
"""


def _input_spec(serving):
    import tensorflow as tf

    shape = tuple(int(d) for d in serving.input_shape[1:])
    return tf.TensorSpec((None, *shape), tf.float32, name="inputs")


def _checked_endpoint(run, spec):
    """A ``tf.function`` over ``run`` (the serving model's forward pass) whose
    signature takes ``inputs`` as ``spec`` says (float32, (batch, *input shape)) and
    checks the shape before anything runs: without it a wrong rank aborts the serving
    process inside the convolution kernels and a wrong height or width is silently
    accepted (global pooling takes any size)."""
    import tensorflow as tf

    @tf.function(input_signature=[spec])
    def serve(inputs):
        # A runtime check (static checks such as assert_rank are folded away, since the
        # signature already claims the right rank): "Shape of tensor inputs [2,8,8] is
        # not compatible with expected shape [?,8,8,1]".
        inputs = tf.ensure_shape(inputs, spec.shape, name="check_input_shape")
        outputs = dict(run(inputs))
        if "class_id" in outputs:  # int64 whichever backend wrote it
            outputs["class_id"] = tf.cast(outputs["class_id"], tf.int64)
        return outputs

    return serve


def export_savedmodel(serving, path: str | os.PathLike, *, verbose: bool = False) -> Path:
    """Write ``serving`` as a SavedModel at ``path`` whose ``serving_default``
    signature checks the input shape (see ``_checked_endpoint``): first into a
    temporary folder beside it, then renamed into place, so a failure never leaves a
    half-written export and an export already at ``path`` is replaced only by a
    complete one."""
    spec = _input_spec(serving)
    with atomic_path(path) as tmp:
        archive = keras.export.ExportArchive()
        if keras.backend.backend() == "jax":
            # jax2tf turns the model into one XLA module, an endpoint of its own
            # ("model_fn", unchecked); the checked one is named the default explicitly,
            # since Keras would make the first endpoint the default
            model_fn = archive.track_and_add_endpoint("model_fn", serving, [spec])
            serve = _checked_endpoint(model_fn, spec)
            archive.add_endpoint("serve", serve)
            archive.add_endpoint("serving_default", serve)
        else:
            archive.track(serving)
            run = lambda inputs: serving(inputs, training=False)  # noqa: E731
            archive.add_endpoint("serve", _checked_endpoint(run, spec))
        archive.write_out(str(tmp), verbose=verbose)
    return path


def signature_listing(path: str | os.PathLike) -> str:
    """What ``saved_model_cli show --all`` says about the export (its signatures,
    inputs and outputs with dtypes and shapes), run as the command line tool."""
    cli = shutil.which("saved_model_cli") or str(Path(sys.executable).parent / "saved_model_cli")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(
        [
            cli,
            "show",
            "--dir",
            str(path),
            "--tag_set",
            "serve",
            "--signature_def",
            "serving_default",
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    if done.returncode != 0:
        raise RuntimeError(f"saved_model_cli show failed on {path}:\n{done.stderr[-2000:]}")
    return done.stdout.strip()


def export_onnx(savedmodel: str | os.PathLike, path: str | os.PathLike, opset: int = 17) -> Path:
    """The SavedModel at ``savedmodel`` converted to ONNX at ``path`` by tf2onnx
    (``pip install "zoo[onnx]"``), written to a temporary file and renamed into place.
    Converting the SavedModel, not the Keras model, keeps the preprocessing statistics
    as constants (from a Keras model tf2onnx turns them into extra inputs)."""
    if importlib.util.find_spec("tf2onnx") is None:
        raise ValueError('ONNX export needs tf2onnx and onnxruntime: pip install "zoo[onnx]".')
    path = Path(path)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONWARNINGS": "ignore"}
    with atomic_path(path) as tmp:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "tf2onnx.convert",
                "--saved-model",
                str(savedmodel),
                "--signature_def",
                "serving_default",
                "--opset",
                str(opset),
                "--output",
                str(tmp),
            ],
            capture_output=True,
            text=True,
            env=env,
        )
        if done.returncode != 0 or not tmp.exists():
            raise RuntimeError(
                f"tf2onnx could not convert {savedmodel} to ONNX:\n{done.stderr[-2000:]}"
            )
    return path


def export_tflite(savedmodel: str | os.PathLike, path: str | os.PathLike) -> Path:
    """The SavedModel at ``savedmodel`` converted to a TFLite flatbuffer at ``path``
    (float32, no quantization, so the verification can hold it to 1e-5), written to a
    temporary file and renamed into place."""
    import tensorflow as tf

    path = Path(path)
    converter = tf.lite.TFLiteConverter.from_saved_model(str(savedmodel))
    with _quiet():
        blob = converter.convert()
    with atomic_path(path) as tmp:
        tmp.write_bytes(blob)
    return path


class _quiet:
    """Silence the converters' Python warnings (deprecations inside them)."""

    def __enter__(self):
        self._ctx = warnings.catch_warnings()
        self._ctx.__enter__()
        warnings.simplefilter("ignore")

    def __exit__(self, *exc):
        return self._ctx.__exit__(*exc)


def verify_savedmodel(path: str | os.PathLike, x: np.ndarray, expected: dict, atol=1e-5) -> dict:
    """Load the SavedModel in a fresh Python process that imports only TensorFlow, run
    ``x`` through its serving signature and compare with ``expected`` (the in-memory
    outputs). Returns the largest absolute difference per output; raises
    ``RuntimeError`` naming the output that differs."""
    return _verify(_VERIFY, "TensorFlow", path, x, expected, atol)[0]


def verify_and_list_savedmodel(
    path: str | os.PathLike, x: np.ndarray, expected: dict, atol=1e-5
) -> tuple[dict, str]:
    """``verify_savedmodel`` and ``signature_listing`` from one fresh TensorFlow
    process (each would start its own): the differences per output and the listing."""
    diffs, served = _verify(_VERIFY, "TensorFlow", path, x, expected, atol, "--signature")
    return diffs, served.get("signature") or signature_listing(path)


def verify_onnx(path: str | os.PathLike, x: np.ndarray, expected: dict, atol=1e-5) -> dict:
    """As ``verify_savedmodel``, for an ONNX file run by onnxruntime alone."""
    return _verify(_VERIFY_ONNX, "onnxruntime", path, x, expected, atol)[0]


def verify_tflite(path: str | os.PathLike, x: np.ndarray, expected: dict, atol=1e-5) -> dict:
    """As ``verify_savedmodel``, for a TFLite file run by the TFLite interpreter."""
    return _verify(_VERIFY_TFLITE, "TFLite", path, x, expected, atol)[0]


def _verify(script: str, runtime: str, path, x, expected: dict, atol: float, *flags):
    """Run ``script`` on the export at ``path`` and ``x`` in a fresh process; the
    differences per output against ``expected`` and everything the script printed."""
    with tempfile.TemporaryDirectory() as tmp:
        x_file = Path(tmp) / "x.npy"
        np.save(x_file, np.asarray(x))
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
        done = subprocess.run(
            [sys.executable, "-c", script, str(path), str(x_file), *flags],
            capture_output=True,
            text=True,
            env=env,
        )
    if done.returncode != 0:
        raise RuntimeError(
            f"The export at {path} did not load in a fresh {runtime} process:\n"
            f"{done.stderr[-2000:]}"
        )
    printed = json.loads(done.stdout.strip().splitlines()[-1])
    diffs = compare_outputs(printed["outputs"], expected, atol, where=f"The export at {path}")
    return diffs, printed


def compare_outputs(served: dict, expected: dict, atol: float = 1e-5, *, where: str) -> dict:
    """The largest absolute difference per output between what an export ``served``
    and the ``expected`` in-memory outputs; ``RuntimeError`` naming the output that is
    missing or differs by more than ``atol`` (relative to values beyond 1: a
    regression predicting values near 150 cannot agree to 1e-5 absolute across
    runtimes)."""
    diffs = {}
    for key, want in expected.items():
        if key not in served:
            raise RuntimeError(f"{where} has no output {key!r}; it has {list(served)}.")
        got, want = np.asarray(served[key]), np.asarray(want)
        if got.shape != want.shape:
            raise RuntimeError(
                f"{where} gives {key!r} of shape {got.shape}; the model in memory {want.shape}."
            )
        diffs[key] = float(np.max(np.abs(got - want))) if got.size else 0.0
        allowed = atol * max(1.0, float(np.max(np.abs(want)))) if want.size else atol
        if diffs[key] > allowed:
            raise RuntimeError(
                f"{where} gives {key!r} up to {diffs[key]:.2e} away from the model in memory "
                f"(allowed {allowed:.1e}: {atol:.0e}, relative to values beyond 1)."
            )
    return diffs


EXPORT_FORMATS = ("savedmodel", "onnx", "tflite", "tflite_int8")
#: the command-line flag of each format beyond the SavedModel
def export_onnx_from_torch(serving, path: str | os.PathLike, sample: np.ndarray) -> Path:
    """``serving`` (called once on ``sample``) written as ONNX at ``path`` by Keras'
    export on the PyTorch backend (torch.onnx), its outputs renamed after the serving
    model's (``class_id``, ``probabilities``; ``prediction``), through a temporary
    file renamed into place."""
    import onnx

    serving(sample[:2])  # Keras exports a model that has been called
    spec = keras.InputSpec(shape=(None, *serving.input_shape[1:]), dtype="float32")
    names = sorted(serving.output.keys())  # Keras flattens a dict of outputs by key
    path = Path(path)
    with atomic_path(path) as tmp:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the tracer's notes on Python constants
            serving.export(str(tmp), format="onnx", input_signature=[spec], verbose=False)
        exported = onnx.load(str(tmp))
        graph = exported.graph
        renamed = {o.name: new for o, new in zip(graph.output, names, strict=True)}
        renamed[graph.input[0].name] = "inputs"
        for node in graph.node:  # every use of a renamed value, inside the graph too
            node.input[:] = [renamed.get(n, n) for n in node.input]
            node.output[:] = [renamed.get(n, n) for n in node.output]
        for value in (*graph.input, *graph.output):
            value.name = renamed.get(value.name, value.name)
        onnx.save(exported, str(tmp))
    return path


def _export_from_torch(serving, loaded, run_dir: Path) -> dict:
    """The PyTorch backend's export: ``model.onnx`` taking raw inputs, checked in a
    fresh onnxruntime process; the result names it as the run's export."""
    split = "test" if loaded.info.num_examples["test"] else "train"
    sample = loaded.arrays(split, preprocessed=False)[0][:16].astype("float32")
    path = export_onnx_from_torch(serving, run_dir / "model.onnx", sample)
    expected = {k: keras.ops.convert_to_numpy(v) for k, v in serving(sample).items()}
    record = {"path": str(path), "max_abs_diff": verify_onnx(path, sample, expected)}
    return {**record, "format": "onnx", "onnx": dict(record)}


def export_and_verify(model, loaded, run_dir: Path, formats=("savedmodel",)) -> dict:
    """The SavedModel taking raw inputs in ``run_dir/export`` (always), plus
    ``model.onnx`` and ``model.tflite`` when ``formats`` names them; each checked in a
    fresh process of its own runtime against the model in memory on test inputs.
    ``tflite_int8`` adds ``model_int8.tflite`` (``zoo.quantize``) and scores it beside
    the float32 file on the whole test split: accuracy, latency per image, size.
    ``run_dir/export_signature.txt`` holds what ``saved_model_cli show`` lists.
    On PyTorch the export is ``model.onnx`` alone (``export_onnx_from_torch``), checked
    in onnxruntime; ``format`` says so in the result. Returns the paths and the largest
    differences per format."""
    unknown = sorted(set(formats) - set(EXPORT_FORMATS))
    if unknown:
        raise ValueError(f"export formats {unknown} unknown; choose from {EXPORT_FORMATS}.")
    check_export_backend(formats)
    run_dir = Path(run_dir)
    serving = serving_model(model, loaded.preprocess, loaded.info.task)
    if keras.backend.backend() == "torch":
        return _export_from_torch(serving, loaded, run_dir)
    export_path = export_savedmodel(serving, run_dir / "export")
    split = "test" if loaded.info.num_examples["test"] else "train"
    sample = loaded.arrays(split, preprocessed=False)[0][:16].astype("float32")
    expected = {k: keras.ops.convert_to_numpy(v) for k, v in serving(sample).items()}
    diffs, listing = verify_and_list_savedmodel(export_path, sample, expected)
    result = {"path": str(export_path), "max_abs_diff": diffs}
    write_text(run_dir / "export_signature.txt", listing + "\n")
    result["signature"] = listing
    if "onnx" in formats:
        path = export_onnx(export_path, run_dir / "model.onnx")
        result["onnx"] = {"path": str(path), "max_abs_diff": verify_onnx(path, sample, expected)}
    if "tflite" in formats or "tflite_int8" in formats:  # int8 is compared with it
        path = export_tflite(export_path, run_dir / "model.tflite")
        result["tflite"] = {
            "path": str(path),
            "max_abs_diff": verify_tflite(path, sample, expected),
        }
    if "tflite_int8" in formats:
        train = loaded.arrays("train", preprocessed=False)[0]
        path = export_tflite_int8(export_path, run_dir / "model_int8.tflite", train)
        x, y = loaded.arrays(split, preprocessed=False)
        compared = compare_float_and_int8(
            run_dir / "model.tflite", path, x.astype("float32"), y, loaded.info.task
        )
        result["tflite_int8"] = {"path": str(path), "split": split, **compared}
    return result
