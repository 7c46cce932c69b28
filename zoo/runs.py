"""Commands on finished run folders: ``zoo evaluate`` (again, or on other data),
``zoo export`` (again, in more formats) and ``zoo compare`` (runs side by side). Each
reads what the run wrote (``config.json``, ``model.keras``) through ``zoo.runfolder``
and writes back through it.
"""

from __future__ import annotations

import os
from pathlib import Path

import keras
import numpy as np

from zoo.config import read_config
from zoo.data import DataError, materialize, read_source
from zoo.evaluation import Evaluation, evaluate
from zoo.export import export_and_verify
from zoo.packaged import load_network
from zoo.run import load_for
from zoo.runfolder import METRICS, hold, model_file, read_json, update_metrics


def load_run(run_dir: str | os.PathLike):
    """A finished run folder's ``(config, loaded data, model, model file)``: the data
    re-read with the run's settings (same seed: same splits and preprocessing
    statistics), the trained network from ``model.keras`` (else ``best.keras``): the one
    inside a packaged file (``zoo.packaged``), or an older run's bare network."""
    config = read_config(run_dir)
    found = model_file(run_dir)
    try:
        model = load_network(found)
    except ValueError as err:
        best = Path(run_dir) / "best.keras"
        if found.name == "best.keras" or not best.exists():
            raise
        raise ValueError(
            f"{err} The run also has best.keras, the checkpoint of its best validation "
            f"loss: move {found.name} aside (mv {found} {found}.broken) and run this again "
            "to use it."
        ) from None
    config, loaded = load_for(config)
    return config, loaded, model, found


def export_run(run_dir: str | os.PathLike, formats=("savedmodel",)) -> dict:
    """Export the model a finished run saved (``model.keras``, else ``best.keras``) in
    the formats named, each verified (see ``zoo.export.export_and_verify``); the
    preprocessing is rebuilt from ``config.json`` (same seed, same statistics). Updates
    ``metrics.json``."""
    run = Path(run_dir)
    _, loaded, model, _ = load_run(run)
    with hold(run):  # one writer; temporaries of an export that was killed removed
        result = export_and_verify(model, loaded, run, formats=formats)
        update_metrics(run / METRICS, {"export": result})
    return result


def evaluate_run(
    run_dir: str | os.PathLike, source: str | None = None, *, out_dir=None
) -> tuple[Evaluation, Path]:
    """Evaluate the model saved in ``run_dir`` (``model.keras``, else ``best.keras``).

    With no ``source``: its own test split, rebuilt from ``config.json`` (same seed,
    same splits, same preprocessing statistics), written into ``run_dir``. With a
    ``source`` (a CSV file, image folder, ... with the same classes or target): every
    row of it, preprocessed as the training data was, written into
    ``run_dir/eval-<name>/`` (or ``out_dir``). Returns the evaluation and its folder."""
    run = Path(run_dir)
    config, loaded, model, saved = load_run(run)
    if source is None:
        with hold(run):
            return evaluate(model, loaded, run_dir=run), run

    info = loaded.info
    size = tuple(info.input_shape[:2]) if loaded.data.kind == "image" else None
    data = read_source(source, label=config.label, task=info.task, image_size=size)
    if tuple(data.input_shape) != tuple(info.input_shape):
        raise DataError(
            f"{source}: inputs of shape {data.input_shape}, but the model in {run} takes "
            f"{info.input_shape}."
        )
    if info.task == "classification" and list(data.class_names) != list(info.class_names):
        unknown = sorted(set(data.class_names) - set(info.class_names))
        if unknown:
            raise DataError(
                f"{source}: class(es) {', '.join(unknown)} were not in the training data "
                f"({', '.join(info.class_names)})."
            )
        # The same classes, some absent: map the labels onto the training ids.
        ids = np.array([info.class_names.index(n) for n in data.class_names])
        data.y = ids[data.y]
    raw, y = materialize(data, np.arange(len(data)))
    x = keras.ops.convert_to_numpy(loaded.preprocess(raw))
    name = Path(str(source).rstrip("/")).stem.replace("tfds:", "") or "data"
    folder = Path(out_dir) if out_dir else run / f"eval-{name}"
    with hold(run):
        ev = evaluate(
            model,
            (x, y),
            info,
            folder,
            train=loaded.arrays("train"),
            raw_inputs=raw if data.kind == "image" else None,
            raw_range=(0.0, float(data.pixel_max or 255)),
        )
        update_metrics(folder / "metrics.json", {"source": str(source), "model": str(saved)})
    return ev, folder


COMPARE_KEYS = (
    "accuracy",
    "macro_f1",
    "roc_auc",
    "ece",
    "log_loss",
    "mae",
    "rmse",
    "r2",
    "loss",
)


def compare_runs(run_dirs: list[str | os.PathLike]) -> str:
    """A Markdown table of the runs' ``metrics.json`` side by side: data, model, the
    test figures, epochs, training time, and the bias/variance verdict."""
    rows: list[tuple[str, dict]] = []
    for d in run_dirs:
        path = Path(d) / METRICS
        if not path.exists():
            raise ValueError(f"{d}: no metrics.json (not a finished zoo run folder).")
        rows.append((str(d), read_json(path)))
    keys = [k for k in COMPARE_KEYS if any(k in (m.get("test") or {}) for _, m in rows)]
    header = ["run", "data", "model", *keys, "epochs", "train s", "bias/variance"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for d, m in rows:
        test = m.get("test") or {}
        bv = m.get("bias_variance") or {}
        cells = [
            Path(d).name,
            str(m.get("data", "")),
            str(m.get("model", "")),
            *(f"{test[k]:.4f}" if isinstance(test.get(k), int | float) else "" for k in keys),
            str(m.get("epochs_run", "")),
            f"{m['train_seconds']:.1f}" if "train_seconds" in m else "",
            bv.get("verdict", ""),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
