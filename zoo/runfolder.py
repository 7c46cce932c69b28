"""Run folders: where every run's files live, and the one way they are written.

A run folder (``runs/<name>-<time>/``) holds ``config.json`` (the ``TrainConfig``),
``history.csv``, ``curves.png``, ``best.keras`` (the checkpoint with the lowest
validation loss), ``model.keras``, ``tensorboard/``, ``export/`` (the SavedModel taking
raw inputs), ``evaluation.md`` with its plots and ``metrics.json``; while training runs,
``backup/`` lets a killed run resume.

Everything written here goes through ``atomic_path``: into a temporary name beside
the target, then renamed over it, so a crash never leaves half a file or half a folder
and a file already there is replaced only by a complete one. ``write_json``,
``write_text``, ``update_metrics`` and ``write_config`` are built on it, and the
exports and the plots use it directly. It imports nothing else of zoo, so every
module can write through it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

import numpy as np

CONFIG = "config.json"
METRICS = "metrics.json"
MODEL_FILES = ("model.keras", "best.keras")


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


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary path beside ``path`` to write a file or a folder into; when the
    block ends without an error it is renamed to ``path`` (an old ``path`` is removed
    only once the new one is in place), otherwise it is removed and ``path`` is left
    as it was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # the suffix is kept: Keras saves only to names ending in .keras
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}{path.suffix}")
    try:
        yield tmp
        if not tmp.exists():
            raise FileNotFoundError(f"{tmp}: nothing was written for {path}.")
        if tmp.is_dir() and path.exists():
            old = path.with_name(f".{path.name}.old-{os.getpid()}-{uuid.uuid4().hex[:8]}")
            path.rename(old)
            tmp.rename(path)
            _remove(old)
        else:
            os.replace(tmp, path)  # atomic for files, even over an existing one
    finally:
        _remove(tmp)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def save_model(model, path: str | os.PathLike) -> Path:
    """``model.save(path)`` atomically: a crash never leaves a truncated ``.keras``."""
    with atomic_path(path) as tmp:
        model.save(tmp)
    return Path(path)


def json_default(value):
    """JSON for what ``json`` cannot write itself: NumPy scalars and arrays, paths."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def write_json(path: str | os.PathLike, value) -> Path:
    """Write ``value`` as indented JSON to ``path`` atomically."""
    return write_text(path, json.dumps(value, indent=2, default=json_default) + "\n")


def read_json(path: str | os.PathLike) -> dict:
    """The JSON object in ``path``; an unreadable file is a ``ValueError`` naming it."""
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON ({err}).") from None


def update_metrics(path: str | os.PathLike, new: dict) -> dict:
    """Merge ``new`` into the JSON file at ``path`` (dicts merged one level deep) and
    write it atomically: a failure leaves the old file whole. Returns the merged
    record."""
    path = Path(path)
    current = read_json(path) if path.exists() else {}
    for key, value in new.items():
        if isinstance(value, dict) and isinstance(current.get(key), dict):
            current[key] = {**current[key], **value}
        else:
            current[key] = value
    write_json(path, current)
    return current


def write_config(run_dir: str | os.PathLike, config) -> Path:
    """``run_dir/config.json``: the run's ``TrainConfig`` (``zoo.config.read_config``
    reads it back)."""
    return write_json(Path(run_dir) / CONFIG, asdict(config))


def model_file(run_dir: str | os.PathLike) -> Path:
    """The run's ``model.keras``, else its ``best.keras``."""
    run = Path(run_dir)
    found = next((run / n for n in MODEL_FILES if (run / n).exists()), None)
    if found is None:
        raise ValueError(f"{run} has neither model.keras nor best.keras: did the run finish?")
    return found
