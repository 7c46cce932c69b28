"""Train a zoo model on a data set and export it, writing everything into one run
folder. The pieces (``build_fn``, ``fit``, ``export_and_verify``) are what the recipe
runner and the templates call; ``train_and_export`` strings them together.

A run folder holds ``config.json``, ``history.csv``, ``curves.png``, ``best.keras``
(the checkpoint with the lowest validation loss), ``model.keras``, ``tensorboard/``,
``export/`` (the SavedModel taking raw inputs) and ``metrics.json`` (test metrics
under ``test``). While training runs, ``backup/`` lets a killed run resume.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from zoo.data import DEFAULT_SOURCE, load


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
    precision: str | None = None  # None: the model's default, model_info(name)["precision"]
    # training steps per call into TensorFlow: 8 runs the small models 1.2-1.5x faster
    # (benchmarks/speed.py, part steps); callbacks still see every epoch
    steps_per_execution: int = 8


def config_from_json(path: str | Path) -> TrainConfig:
    """The ``TrainConfig`` a run wrote to ``config.json`` (JSON lists back to tuples;
    keys this version does not know are named in the error)."""
    values = json.loads(Path(path).read_text())
    known = {f for f in TrainConfig.__dataclass_fields__}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"{path}: unknown config keys {unknown}; written by another version?")
    for key in ("image_size", "fold"):
        if isinstance(values.get(key), list):
            values[key] = tuple(values[key])
    return TrainConfig(**values)


def new_run_dir(name: str, root: str | Path = "runs") -> Path:
    """``runs/<name>-<YYYYmmdd-HHMMSS>``, with a suffix if that exists already."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = Path(root) / f"{name.replace(':', '-').replace('/', '-')}-{stamp}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    path.mkdir(parents=True)
    return path


def load_for(config: TrainConfig):
    """``zoo.data.load`` with the config's data settings; the model name filled in."""
    from zoo.optim import check_steps_per_execution
    from zoo.registry import check_precision, get_spec

    # wrong settings fail before anything is read or written
    if config.model is not None:
        get_spec(config.model)
    if config.precision is not None:
        check_precision(config.precision)
    check_steps_per_execution(config.steps_per_execution)
    loaded = load(
        config.data,
        val_fraction=config.val_fraction,
        test_fraction=config.test_fraction,
        batch_size=config.batch_size,
        seed=config.seed,
        label=config.label,
        image_size=config.image_size,
        data_dir=config.data_dir,
        normalize=config.normalize,
        augment=config.augment,
        fold=config.fold,
    )
    if config.model is None:
        config = replace(config, model="convnet" if loaded.data.kind == "image" else "mlp")
    return config, loaded


def build_fn(config: TrainConfig, loaded, **model_kwargs):
    """A zero-argument callable returning a fresh model compiled as ``config`` says
    (``config.model_kwargs`` updated by ``model_kwargs`` go to the model), its
    learning-rate schedule planned over ``config.epochs``."""
    from zoo.callbacks import learning_rate
    from zoo.optim import compile_model
    from zoo.registry import create_model

    info = loaded.info
    steps = config.epochs * max(1, math.ceil(info.num_examples["train"] / config.batch_size))
    model_kwargs = {**config.model_kwargs, **model_kwargs}

    def build():
        model = create_model(
            config.model,
            input_shape=info.input_shape,
            num_classes=info.num_classes,
            precision=config.precision,
            **model_kwargs,
        )
        lr = learning_rate(config.schedule, config.learning_rate, steps)
        return compile_model(
            model,
            info.task,
            optimizer=config.optimizer,
            learning_rate=lr,
            loss=config.loss,
            steps_per_execution=config.steps_per_execution,
        )

    build.total_steps = steps
    return build


def fit(model, loaded, config: TrainConfig, run_dir: Path, *, extra=(), verbose: int = 2):
    """Train with the standard callbacks; returns ``(history dict, seconds)``."""
    import keras

    from zoo.callbacks import standard
    from zoo.plots import plot_history

    keras.utils.set_random_seed(config.seed)
    callbacks = standard(
        run_dir, patience=config.patience, schedule=config.schedule, extra=list(extra)
    )
    start = time.perf_counter()
    history = model.fit(
        loaded.train,
        validation_data=loaded.val,
        epochs=config.epochs,
        shuffle=False,  # the training pipeline shuffles, with the seed
        callbacks=callbacks,
        verbose=verbose,
    )
    seconds = time.perf_counter() - start
    plot_history(history.history, run_dir / "curves.png")
    model.save(run_dir / "model.keras")
    return history.history, seconds


EXPORT_FORMATS = ("savedmodel", "onnx", "tflite")


def export_and_verify(model, loaded, run_dir: Path, formats=("savedmodel",)) -> dict:
    """The SavedModel taking raw inputs in ``run_dir/export`` (always), plus
    ``model.onnx`` and ``model.tflite`` when ``formats`` names them; each checked in a
    fresh process of its own runtime against the model in memory on test inputs.
    ``run_dir/export_signature.txt`` holds what ``saved_model_cli show`` lists.
    Returns the paths and the largest differences per format."""
    import keras

    from zoo import export as ex

    unknown = sorted(set(formats) - set(EXPORT_FORMATS))
    if unknown:
        raise ValueError(f"export formats {unknown} unknown; choose from {EXPORT_FORMATS}.")
    serving = ex.serving_model(model, loaded.preprocess, loaded.info.task)
    export_path = ex.export_savedmodel(serving, run_dir / "export")
    split = "test" if loaded.info.num_examples["test"] else "train"
    sample = loaded.arrays(split, preprocessed=False)[0][:16].astype("float32")
    expected = {k: keras.ops.convert_to_numpy(v) for k, v in serving(sample).items()}
    result = {
        "path": str(export_path),
        "max_abs_diff": ex.verify_savedmodel(export_path, sample, expected),
    }
    listing = ex.signature_listing(export_path)
    (run_dir / "export_signature.txt").write_text(listing + "\n")
    result["signature"] = listing
    if "onnx" in formats:
        path = ex.export_onnx(export_path, run_dir / "model.onnx")
        result["onnx"] = {"path": str(path), "max_abs_diff": ex.verify_onnx(path, sample, expected)}
    if "tflite" in formats:
        path = ex.export_tflite(export_path, run_dir / "model.tflite")
        result["tflite"] = {
            "path": str(path),
            "max_abs_diff": ex.verify_tflite(path, sample, expected),
        }
    return result


def load_run(run_dir: str | Path):
    """A finished run folder's ``(config, loaded data, model, model file)``: the data
    re-read with the run's settings (same seed: same splits and preprocessing
    statistics), the model from ``model.keras`` (else ``best.keras``)."""
    from zoo.registry import load_model

    run = Path(run_dir)
    if not (run / "config.json").exists():
        raise ValueError(f"{run} has no config.json: is it a zoo run folder?")
    model_file = next((run / n for n in ("model.keras", "best.keras") if (run / n).exists()), None)
    if model_file is None:
        raise ValueError(f"{run} has neither model.keras nor best.keras: did the run finish?")
    config, loaded = load_for(config_from_json(run / "config.json"))
    return config, loaded, load_model(model_file), model_file


def export_run(run_dir: str | Path, formats=("savedmodel",)) -> dict:
    """Export the model a finished run saved (``model.keras``, else ``best.keras``) in
    the formats named, each verified (see ``export_and_verify``); the preprocessing is
    rebuilt from ``config.json`` (same seed, same statistics). Updates ``metrics.json``."""
    from zoo.evaluation import update_metrics

    run = Path(run_dir)
    _, loaded, model, _ = load_run(run)
    result = export_and_verify(model, loaded, run, formats=formats)
    update_metrics(run / "metrics.json", {"export": result})
    return result


def train_and_export(
    config: TrainConfig | None = None,
    run_dir: str | Path | None = None,
    verbose: int = 2,
    formats=("savedmodel",),
) -> dict:
    """Train ``config.model`` on ``config.data`` with the standard callbacks (the output
    bias set from the training labels), evaluate on the test split (``zoo.evaluate``:
    figures, plots, ``evaluation.md``), export and verify. Returns the metrics written to
    ``metrics.json``."""
    from zoo.evaluation import evaluate, update_metrics
    from zoo.recipe.checks import init_output_bias

    config, loaded = load_for(config or TrainConfig())
    run_dir = Path(run_dir) if run_dir else new_run_dir(f"{config.model}-{loaded.data.name}")
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.json").write_text(json.dumps(asdict(config), indent=2) + "\n")

    import keras

    keras.utils.set_random_seed(config.seed)
    model = build_fn(config, loaded)()
    init_output_bias(model, loaded.data.y[loaded.indices["train"]])
    history, seconds = fit(model, loaded, config, run_dir, verbose=verbose)
    test_scores = model.evaluate(loaded.test, verbose=0, return_dict=True)
    evaluation = evaluate(model, loaded, run_dir=run_dir, write_metrics=False)
    result = {
        "data": config.data,
        "model": config.model,
        "epochs_run": len(history["loss"]),
        "train_seconds": round(seconds, 2),
        **evaluation.as_metrics(),
        "export": export_and_verify(model, loaded, run_dir, formats=formats),
        "num_examples": loaded.info.num_examples,
    }
    result["test"] = {**{k: float(v) for k, v in test_scores.items()}, **evaluation.test}
    update_metrics(run_dir / "metrics.json", result)
    result["run_dir"] = str(run_dir)
    return result
