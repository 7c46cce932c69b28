"""Train a zoo model on a data set and export it: the short path from data to a
verified SavedModel, writing everything into one run folder.

A run folder holds ``config.json``, ``history.csv``, ``curves.png``, ``best.keras``
(the checkpoint with the lowest validation loss), ``model.keras``, ``export/`` (the
SavedModel taking raw inputs) and ``metrics.json`` (test metrics under ``test``).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from zoo.data import DEFAULT_SOURCE, load


@dataclass
class TrainConfig:
    data: str = DEFAULT_SOURCE
    model: str | None = None  # None: convnet for images, mlp for tabular data
    epochs: int = 100
    batch_size: int = 32
    learning_rate: float = 3e-4
    patience: int = 10
    seed: int = 42
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    label: str | None = None  # the label column of a CSV source
    image_size: tuple[int, int] | None = None  # decode an image folder to this size
    data_dir: str | None = None  # TFDS data folder


def new_run_dir(name: str, root: str | Path = "runs") -> Path:
    """``runs/<name>-<YYYYmmdd-HHMMSS>``, with a suffix if that exists already."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = Path(root) / f"{name}-{stamp}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    path.mkdir(parents=True)
    return path


def train_and_export(
    config: TrainConfig | None = None, run_dir: str | Path | None = None, verbose: int = 2
) -> dict:
    """Train ``config.model`` on ``config.data`` with early stopping, evaluate on the
    test split, export and verify. Returns the metrics written to ``metrics.json``."""
    import keras

    from zoo.export import export_savedmodel, serving_model, verify_savedmodel
    from zoo.plots import plot_history
    from zoo.registry import create_model, get_spec

    config = config or TrainConfig()
    # Bad input fails here, before anything is written.
    if config.model is not None:
        get_spec(config.model)
    loaded = load(
        config.data,
        val_fraction=config.val_fraction,
        test_fraction=config.test_fraction,
        batch_size=config.batch_size,
        seed=config.seed,
        label=config.label,
        image_size=config.image_size,
        data_dir=config.data_dir,
    )
    if config.model is None:
        config = replace(config, model="convnet" if loaded.data.kind == "image" else "mlp")
    info, preprocess = loaded.info, loaded.preprocess
    classification = info.task == "classification"
    keras.utils.set_random_seed(config.seed)
    name = loaded.data.name
    run_dir = Path(run_dir) if run_dir else new_run_dir(f"{config.model}-{name}")
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.json").write_text(json.dumps(asdict(config), indent=2) + "\n")

    model = create_model(config.model, input_shape=info.input_shape, num_classes=info.num_classes)
    if classification:
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        metrics = [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
    else:
        loss, metrics = keras.losses.MeanSquaredError(), [keras.metrics.MeanAbsoluteError("mae")]
    model.compile(optimizer=keras.optimizers.Adam(config.learning_rate), loss=loss, metrics=metrics)
    callbacks = [
        keras.callbacks.EarlyStopping(
            monitor="val_loss",
            min_delta=1e-4,
            patience=config.patience,
            restore_best_weights=True,
        ),
        keras.callbacks.ModelCheckpoint(
            run_dir / "best.keras", monitor="val_loss", save_best_only=True
        ),
        keras.callbacks.CSVLogger(run_dir / "history.csv"),
    ]
    start = time.perf_counter()
    history = model.fit(
        loaded.train,
        validation_data=loaded.val,
        epochs=config.epochs,
        shuffle=False,  # the training pipeline shuffles, with the seed
        callbacks=callbacks,
        verbose=verbose,
    )
    train_seconds = time.perf_counter() - start
    plot_history(history.history, run_dir / "curves.png")
    model.save(run_dir / "model.keras")

    test_scores = model.evaluate(loaded.test, verbose=0, return_dict=True)
    serving = serving_model(model, preprocess, info.task)
    export_path = export_savedmodel(serving, run_dir / "export")
    sample = loaded.arrays("test", preprocessed=False)[0][:16].astype("float32")
    expected = {k: keras.ops.convert_to_numpy(v) for k, v in serving(sample).items()}
    diffs = verify_savedmodel(export_path, sample, expected)

    result = {
        "data": config.data,
        "model": config.model,
        "epochs_run": len(history.history["loss"]),
        "train_seconds": round(train_seconds, 2),
        "test": {k: float(v) for k, v in test_scores.items()},
        "export": {"path": str(export_path), "max_abs_diff": diffs},
        "num_examples": info.num_examples,
    }
    (run_dir / "metrics.json").write_text(json.dumps(result, indent=2) + "\n")
    result["run_dir"] = str(run_dir)
    return result
