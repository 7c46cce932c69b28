"""``TrainConfig``: every setting of a training run and the one home of its defaults
(the CLI, the recipe, the templates and the tuner read them from here), and its
validation (``validate``), which runs before anything is read or written.

The defaults follow the recipe: Adam at 3e-4, a constant learning rate, no
augmentation, a fixed seed, early stopping on validation loss with the best weights
restored.
"""

from __future__ import annotations

import difflib
import importlib.util
import json
import math
import os
import re
import sys
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path

from zoo.data.bundled import DEFAULT_SOURCE
from zoo.registry import check_model_args, check_precision, get_spec, list_models
from zoo.runfolder import CONFIG, read_json
from zoo.weights import NOT_BUNDLED


@dataclass
class TrainConfig:
    data: str = DEFAULT_SOURCE
    model: str | None = None  # None: convnet for images, mlp for tabular data
    epochs: int = 100
    batch_size: int = 32
    learning_rate: float = 3e-4
    optimizer: str = "adam"
    schedule: str = "constant"
    loss: str | None = None  # None: the task's default (cross-entropy from logits, MSE)
    patience: int = 10
    seed: int = 42
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    label: str | None = None  # the label column of a CSV source
    image_size: tuple[int, int] | None = None  # decode an image folder to this size
    data_dir: str | None = None  # TFDS data folder
    normalize: str = "auto"
    augment: str | None = None
    fold: tuple[int, int] | None = None  # (k, n): test on fold k of n (cross-validation)
    model_kwargs: dict = field(default_factory=dict)  # e.g. {"dropout": 0.2, "hidden": [64]}
    precision: str | None = None  # None: float32
    # a published weight file loaded into the model (zoo.weights: torchvision's .pth for
    # resnet/vgg, keras.applications' VGG .h5); the images are then preprocessed as the
    # file expects (normalize "auto": "imagenet" or "caffe")
    weights: str | None = None
    # training steps per call into the backend; None: 8 on TensorFlow and JAX (the small
    # models run 1.2-1.5x faster: benchmarks/speed.py, part steps), 1 on PyTorch (which
    # runs one step per call); callbacks still see every epoch
    steps_per_execution: int | None = None
    # devices one run trains on (zoo.distribute): None is one; N or "all" spreads each
    # global batch of batch_size over them (keras.distribution on JAX, MirroredStrategy
    # on TensorFlow), with learning_rate unchanged
    devices: int | str | None = None
    # seconds the whole run may take (zoo.plan): epochs sized to fit, measured on the
    # real training step; None: no limit but `epochs` and early stopping
    time_budget: float | None = None


DEFAULTS = TrainConfig()


def parse_duration(text: str | float | int | None) -> float | None:
    """Seconds in ``text``: ``"90"``, ``"90s"``, ``"10m"``, ``"1h30m"``, ``"1.5h"``;
    None stays None. A ``ValueError`` names the text and the forms it takes."""
    if text is None or isinstance(text, int | float):
        seconds = None if text is None else float(text)
    else:
        parts = re.fullmatch(r"\s*(?:(\d+(?:\.\d+)?)h)?\s*(?:(\d+(?:\.\d+)?)m)?\s*"
                             r"(?:(\d+(?:\.\d+)?)s?)?\s*", str(text).lower())
        if not parts or not any(parts.groups()):
            raise ValueError(
                f"time budget {text!r}: write it as 90s, 10m, 1h30m or a number of seconds."
            )
        h, m, s = (float(g) if g else 0.0 for g in parts.groups())
        seconds = 3600 * h + 60 * m + s
    if seconds is not None and not (math.isfinite(seconds) and seconds > 0):
        raise ValueError(f"time budget {text!r} must be a positive duration.")
    return seconds


def check_steps_per_execution(value) -> int | None:
    """``value`` if it is None (per backend) or an integer >= 1, else ``ValueError``
    saying what it is for."""
    if value is None:
        return None
    if isinstance(value, bool) or not (isinstance(value, int) and value >= 1):
        raise ValueError(
            f"steps_per_execution={value!r} must be an integer >= 1 (training steps per call "
            "into the backend; 1 is Keras' default) or None (zoo's choice per backend)."
        )
    return value


def backend_name() -> str:
    """Keras' backend: the running one once Keras is loaded; before, the one it will
    load, read as Keras reads it (``KERAS_BACKEND``, else ``keras.json`` in
    ``KERAS_HOME`` or ``~/.keras``, else TensorFlow), so that settings are checked
    without loading Keras (5 s)."""
    if "keras" in sys.modules:
        return sys.modules["keras"].backend.backend()
    if os.environ.get("KERAS_BACKEND"):
        return os.environ["KERAS_BACKEND"]
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    try:
        with open(os.path.join(home, "keras.json")) as f:
            return str(json.load(f).get("backend", "tensorflow"))
    except (OSError, ValueError, AttributeError):
        return "tensorflow"


#: The flag that asks for each export format.
FLAGS = {"onnx": "--onnx", "tflite": "--tflite", "tflite_int8": "--tflite int8"}


def check_export_backend(formats=("savedmodel",), backend: str | None = None) -> None:
    """``ValueError`` before anything is trained or written when the running Keras
    backend cannot write ``formats``: a SavedModel needs TensorFlow installed and the
    TensorFlow or JAX backend (JAX's goes through jax2tf as one XLA module); ONNX and
    TFLite are converted from a TensorFlow backend's SavedModel, whose graph their
    converters read (an XLA module they cannot). On PyTorch the export is ONNX, which
    Keras writes through torch.onnx (``export_onnx_from_torch``); TFLite is refused."""
    backend = backend or backend_name()
    if backend == "torch":
        if "tflite" in formats or "tflite_int8" in formats:
            raise ValueError(
                "--tflite on PyTorch: TFLite is converted from a TensorFlow SavedModel. "
                "Train on PyTorch without it (the export is ONNX there), then export the "
                "run's model.keras: KERAS_BACKEND=tensorflow zoo export RUN_DIR --tflite."
            )
        missing = [m for m in ("onnx", "onnxruntime") if importlib.util.find_spec(m) is None]
        if missing:
            raise ValueError(
                f"export from PyTorch is ONNX (Keras' export through torch.onnx), checked in "
                f"onnxruntime: pip install {' '.join(missing)}."
            )
        return
    if "onnx" in formats and backend == "tensorflow":
        missing = [m for m in ("tf2onnx", "onnxruntime") if importlib.util.find_spec(m) is None]
        if missing:
            raise ValueError(
                f"--onnx needs {' and '.join(missing)}, not installed: pip install "
                '-e ".[onnx]" from zoo\'s folder (tf2onnx, onnxruntime), or leave --onnx out.'
            )
    if importlib.util.find_spec("tensorflow") is None:
        raise ValueError(
            "export writes a TensorFlow SavedModel, and TensorFlow is not installed: "
            "pip install tensorflow (the model.keras file is written without it)."
        )
    if backend not in ("tensorflow", "jax"):
        raise ValueError(
            f"export from the {backend} backend: zoo writes SavedModels from TensorFlow "
            "or JAX. The run's model.keras loads in any Keras: export it with "
            "KERAS_BACKEND=tensorflow zoo export RUN_DIR."
        )
    extra = " ".join(FLAGS[name] for name in sorted(set(formats) - {"savedmodel"}))
    if backend == "jax" and extra:
        raise ValueError(
            f"{extra} on JAX: zoo converts ONNX and TFLite from a TensorFlow-backend "
            "SavedModel (JAX's holds one XLA module, which their converters cannot read). "
            "Train on JAX without it, then export the run's model.keras: "
            f"KERAS_BACKEND=tensorflow zoo export RUN_DIR {extra}."
        )


def resolve_steps_per_execution(
    value: int | None, backend: str | None = None, devices: int = 1
) -> int:
    """The steps per call to use on ``backend`` (default: Keras' running backend) with
    ``devices`` devices: ``value`` as given, or for None 8 on TensorFlow and JAX and 1
    on PyTorch and on TensorFlow across devices. A value above 1 where it fails (on
    PyTorch, which refuses it at the first step; under TensorFlow's MirroredStrategy,
    where Keras 3's multi-step loop feeds no value to a placeholder) is a ``ValueError``
    here, before anything is written."""
    check_steps_per_execution(value)
    backend = backend or backend_name()
    mirrored = backend == "tensorflow" and devices > 1
    if value is None:
        return 1 if backend == "torch" or mirrored else 8
    if backend == "torch" and value > 1:
        raise ValueError(
            f"steps_per_execution={value}: the PyTorch backend runs one training step per "
            "call and refuses more. Leave it unset (zoo picks 1 there), pass "
            "--steps-per-execution 1, or use KERAS_BACKEND=tensorflow or jax."
        )
    if mirrored and value > 1:
        raise ValueError(
            f"steps_per_execution={value} on {devices} TensorFlow devices: Keras' multi-step "
            "loop fails under MirroredStrategy. Leave it unset (zoo picks 1 there), pass "
            "--steps-per-execution 1, or use KERAS_BACKEND=jax."
        )
    return value


def check_devices(devices) -> int | str | None:
    """``devices`` if it is None (one device), ``"all"`` or an integer >= 1, else a
    ``ValueError`` saying what it takes."""
    if devices is None or devices == "all":
        return devices
    if isinstance(devices, str) and devices.isdigit():
        devices = int(devices)
    if isinstance(devices, bool) or not isinstance(devices, int) or devices < 1:
        raise ValueError(
            f"devices={devices!r} must be an integer >= 1 or 'all' (the local accelerators, "
            "or every device of every machine after initialize_cluster)."
        )
    return devices


def config_from_dict(values: dict, where: str = "config") -> TrainConfig:
    """A ``TrainConfig`` from a dict as ``config.json`` holds it (JSON lists back to
    tuples); keys this version does not know are named in the error."""
    known = {f.name for f in fields(TrainConfig)}
    unknown = sorted(set(values) - known)
    if unknown:
        close = {k: difflib.get_close_matches(k, known, n=1) for k in unknown}
        hints = "".join(f" {k}: did you mean {c[0]}?" for k, c in close.items() if c)
        raise ValueError(
            f"{where}: unknown config keys {unknown}.{hints} The keys are TrainConfig's "
            f"fields: {', '.join(sorted(known))}."
        )
    values = dict(values)
    for key in ("image_size", "fold"):
        if isinstance(values.get(key), list):
            values[key] = tuple(values[key])
    return TrainConfig(**values)


def script_problem(path: Path) -> str:
    """Why ``path`` cannot be run as a Python script (empty if it can): missing, a
    folder, or a notebook."""
    if path.suffix == ".ipynb":
        return (f"{path} is a Jupyter notebook, not a Python script: convert it with "
                f"`jupyter nbconvert --to script {path}` and check the .py it writes.")  # fmt: skip
    if not path.exists():
        return f"{path}: no such script."
    if not path.is_file():
        return f"{path} is a folder; give the training script inside it."
    return ""


def check_weights(config: TrainConfig) -> None:
    """``config.weights`` names a file and the model it loads into (a resnet or vgg),
    else a ``ValueError`` saying what to give; read without Keras."""
    if not Path(config.weights).is_file():
        raise ValueError(f"weights={config.weights!r} is not a file. {NOT_BUNDLED}")
    pretrained = [n for n in list_models() if get_spec(n).family in ("resnet", "vgg")]
    if config.model not in pretrained:
        raise ValueError(
            f"weights={config.weights!r} needs the model the file is for: --model "
            f"{' | '.join(pretrained)} (model={config.model!r})."
        )


def validate(config: TrainConfig) -> TrainConfig:
    """``config`` if every setting is one zoo can run, else a ``ValueError`` naming
    the setting, its value and what it takes; called before anything is read or
    written."""

    def bad(name: str, what: str):
        value = getattr(config, name)
        return ValueError(f"{name}={value!r}: {what}.")

    if config.model is not None:
        get_spec(config.model)
    if config.precision is not None:
        check_precision(config.precision)
    if config.weights is not None:
        check_weights(config)
    resolve_steps_per_execution(config.steps_per_execution)
    check_devices(config.devices)
    for name in ("epochs", "batch_size"):
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise bad(name, "must be an integer >= 1")
    if isinstance(config.patience, bool) or not isinstance(config.patience, int):
        raise bad("patience", "must be an integer >= 0")
    if config.patience < 0:
        raise bad("patience", "must be an integer >= 0")
    lr = config.learning_rate
    if not isinstance(lr, int | float) or not math.isfinite(lr) or lr <= 0:
        raise bad("learning_rate", "must be a finite number > 0 (the recipe starts at 3e-4)")
    for name in ("val_fraction", "test_fraction"):
        value = getattr(config, name)
        if not isinstance(value, int | float) or not 0 <= value < 1:
            raise bad(name, "must be a fraction in [0, 1)")
    budget = config.time_budget
    if budget is not None and (
        isinstance(budget, bool) or not isinstance(budget, int | float) or not budget > 0
    ):
        raise bad("time_budget", "must be a number of seconds > 0 (zoo: --time-budget 10m)")
    if not isinstance(config.model_kwargs, dict):
        raise bad("model_kwargs", "must be a dict of model arguments")
    if config.model is not None and config.model_kwargs:  # the builder's signature: Keras
        check_model_args(config.model, config.model_kwargs)
    return config


def read_config_file(path: str | os.PathLike) -> tuple[TrainConfig, set[str]]:
    """The settings in a JSON or TOML file (a run's ``config.json``, or one written by
    hand with some of ``TrainConfig``'s fields; the others take their defaults), and
    the fields it set. A missing or unreadable file, or an unknown key, is a
    ``ValueError`` naming the file."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"--config {path}: no such file.")
    try:
        if path.suffix.lower() == ".toml":
            with path.open("rb") as f:
                values = tomllib.load(f)
        else:
            values = json.loads(path.read_text())
    except (ValueError, OSError) as err:  # JSONDecodeError and TOMLDecodeError are both
        kind = path.suffix[1:] or "JSON"
        raise ValueError(f"--config {path}: not readable as {kind} ({err}).") from None
    if not isinstance(values, dict):
        what = type(values).__name__
        raise ValueError(f"--config {path}: holds a {what}, not a table of settings.")
    return validate(config_from_dict(values, where=str(path))), set(values)


def read_config(run_dir: str | os.PathLike) -> TrainConfig:
    """The ``TrainConfig`` a run folder's ``config.json`` holds."""
    path = Path(run_dir) / CONFIG
    if not path.exists():
        raise ValueError(f"{run_dir} has no {CONFIG}: is it a zoo run folder?")
    return config_from_dict(read_json(path), where=str(path))
