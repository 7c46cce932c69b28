"""Run folders: where every run's files live, and the one way they are written.

A run folder (``runs/<name>-<time>/``) holds ``config.json`` (the ``TrainConfig``),
``history.csv``, ``curves.png``, ``best.keras`` (the checkpoint with the lowest
validation loss) and ``model.keras`` (both taking raw inputs, the preprocessing inside:
``zoo.packaged``), ``model_summary.txt``, ``tensorboard/``, ``export/`` (the SavedModel
taking raw inputs), ``evaluation.md`` with its plots and ``metrics.json``; while training runs,
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
import re
import shutil
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import h5py
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
    return make_folder(path)


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


# ---------------------------------------------------------------------------------------
# Holding a run folder for writing
# ---------------------------------------------------------------------------------------

LOCK = ".lock"
BACKUP = "backup"
_TEMPORARY = re.compile(r"^\..+\.(tmp|old)-\d+")
_last_held: list[Path] = []  # the folder this process held last (one entry at most)


class RunFolderError(ValueError):
    """A run folder that cannot be written as asked; the message says what to do."""


@dataclass
class Held:
    """A run folder held for writing: ``resumed_from`` is the number of epochs an
    interrupted run had finished (``backup/``), None for a fresh start; ``notes`` are
    lines worth telling the user (a backup restored from its previous copy, ...)."""

    path: Path
    resumed_from: int | None = None
    notes: list[str] = field(default_factory=list)


def current() -> Path | None:
    """The run folder this process holds, or held last, for writing (None if none):
    after an interrupt, where the kept files are."""
    return _last_held[0] if _last_held else None


def make_folder(path: str | os.PathLike) -> Path:
    """``path`` created (with its parents); a folder that cannot be made is a
    ``RunFolderError`` saying where to write instead."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise RunFolderError(
            f"cannot create the run folder {path} ({err.strerror or err}); give a folder you "
            "can write to with --run-dir (run_dir= in Python)."
        ) from None
    return path


@contextlib.contextmanager
def hold(run_dir: str | os.PathLike, *, config=None, overwrite: bool = False) -> Iterator[Held]:
    """Hold ``run_dir`` for writing while the block runs: one writer at a time (a second
    one is refused, naming the process that holds it), temporaries a killed writer left
    removed, and, with ``config`` (a training run about to start), what the folder
    holds checked first: a fresh or empty folder starts; an interrupted run with the
    same settings resumes from its backup (checked readable first); a finished run,
    another run's settings or a folder of other files are refused unless
    ``overwrite``, which empties the folder first."""
    path = make_folder(run_dir)
    with _lock(path):
        _remove_temporaries(path)
        held = Held(path)
        if config is not None:
            _check_before_training(path, config, overwrite, held)
        _last_held[:] = [path]  # kept after release: the message after an interrupt
        yield held


@contextlib.contextmanager
def _lock(path: Path) -> Iterator[None]:
    import fcntl

    lock_path = path / LOCK
    while True:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.read(fd, 1000).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise RunFolderError(
                f"{path} is in use by {holder}; wait for it to finish, or give another --run-dir."
            ) from None
        try:  # the file we locked must still be the one at lock_path
            same = os.path.samestat(os.fstat(fd), os.stat(lock_path))
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        argv = " ".join(["zoo", *sys.argv[1:]]) if sys.argv else "python"
        os.write(fd, f"process {os.getpid()} ({argv}, since {time.strftime('%H:%M:%S')})".encode())
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(lock_path)
        os.close(fd)


def _remove_temporaries(path: Path) -> None:
    """Temporaries of ``atomic_path`` left by a writer that was killed (with the lock
    held, no other writer is at work)."""
    for entry in path.iterdir():
        if _TEMPORARY.match(entry.name):
            _remove(entry)


def _plain(config) -> dict:
    values = config if isinstance(config, dict) else asdict(config)
    return json.loads(json.dumps(values, default=json_default))


# settings a run may resume with another value of: the same global batch on another
# number of devices is the same run
RESUMABLE_ELSEWHERE = ("devices",)


def _check_before_training(path: Path, config, overwrite: bool, held: Held) -> None:
    entries = [p for p in path.iterdir() if p.name != LOCK]
    if overwrite:
        for entry in entries:
            _remove(entry)
        return
    if not entries:
        return
    if not (path / CONFIG).exists():
        names = ", ".join(sorted(p.name for p in entries)[:5])
        raise RunFolderError(
            f"{path} is not empty ({names}) and is not a zoo run folder; give an empty or "
            "new --run-dir."
        )
    before = read_json(path / CONFIG)
    what = f"{before.get('model') or 'a model'} on {before.get('data')}"
    if (path / "model.keras").exists() or "test" in (
        read_json(path / METRICS) if (path / METRICS).exists() else {}
    ):
        raise RunFolderError(
            f"{path} holds a finished run ({what}); training again there would mix two runs' "
            "history. Evaluate or export it (zoo evaluate / zoo export), give another "
            "--run-dir, or pass --overwrite to start it over."
        )
    changed = {
        k: (before.get(k), v)
        for k, v in _plain(config).items()
        if before.get(k) != v and k not in RESUMABLE_ELSEWHERE
    }
    if changed:
        listed = ", ".join(f"{k} {a!r} there, {b!r} here" for k, (a, b) in changed.items())
        raise RunFolderError(
            f"{path} holds an unfinished run ({what}) with other settings: {listed}. Resume "
            "it with its own settings, pass --overwrite to start over, or give another "
            "--run-dir."
        )
    held.resumed_from = _check_backup(path / BACKUP, held)
    if held.resumed_from is not None:
        cut_history(path, held.resumed_from)


def cut_history(path: Path, epochs: int) -> None:
    """``history.csv`` cut back to its first ``epochs`` epochs, atomically: the rows a
    killed run wrote after the backup it resumes from are trained and written again, so
    each epoch appears once."""
    history = path / "history.csv"
    if not history.exists():
        return
    lines = [line for line in history.read_text().splitlines() if line.strip()]
    if not lines:
        return
    kept = [lines[0]]
    for line in lines[1:]:
        try:
            if int(line.split(",", 1)[0]) < epochs:
                kept.append(line)
        except ValueError:  # not a row of CSVLogger's: kept as it is
            kept.append(line)
    if len(kept) != len(lines):
        write_text(history, "\n".join(kept) + "\n")


def _check_backup(backup: Path, held: Held) -> int | None:
    """The epochs an interrupted run's ``backup/`` holds (None without one). A backup
    cut short falls back to its previous copy (``*.bkp``) when that one is readable;
    otherwise a ``RunFolderError`` names the file."""
    if not backup.is_dir():
        return None
    weights, meta = backup / "latest.weights.h5", backup / "training_metadata.json"
    problem = _unreadable(weights, meta)
    if problem is None:
        return int(read_json(meta)["epoch"])
    older = [Path(f"{weights}.bkp"), Path(f"{meta}.bkp")]
    if all(p.exists() for p in older) and _unreadable(*older) is None:
        shutil.copyfile(older[0], weights)
        shutil.copyfile(older[1], meta)
        epoch = int(read_json(meta)["epoch"])
        problem = problem.replace(f"{backup.parent}{os.sep}", "")  # backup/latest...
        held.notes.append(
            f"{problem}; resumed from the backup's previous copy instead, after epoch {epoch}"
        )
        return epoch
    raise RunFolderError(
        f"cannot resume the interrupted run in {backup.parent}: {problem}. Pass --overwrite "
        "to start the run over (its progress is lost), or give another --run-dir."
    )


def _unreadable(weights: Path, meta: Path) -> str | None:
    """Why an interrupted run's backup cannot be resumed, or None if it can."""
    try:
        epoch = json.loads(meta.read_text())["epoch"]
        if not isinstance(epoch, int) or epoch < 0:
            raise ValueError(f"epoch {epoch!r}")
    except FileNotFoundError:
        return f"{meta} is missing"
    except (ValueError, KeyError, TypeError) as err:
        return f"{meta} is unreadable ({type(err).__name__}: {err})"
    try:
        with h5py.File(weights, "r") as f:
            list(f.keys())
    except FileNotFoundError:
        return f"{weights} is missing"
    except OSError as err:
        return f"{weights} is unreadable ({err})"
    return None


def epochs_logged(run_dir: str | os.PathLike) -> int:
    """Epochs in ``history.csv`` (every epoch of a run, resumed ones included)."""
    path = Path(run_dir) / "history.csv"
    if not path.exists():
        return 0
    return max(0, sum(1 for line in path.read_text().splitlines() if line.strip()) - 1)
