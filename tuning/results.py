"""A search's results: one row per trial (``trial_rows``), written as ``results.csv``,
``results.md`` and two plots (``write_results``), and a trial's hyperparameters
rebuilt from its row (``hyperparameters_of``)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import keras_tuner

from tuning.spaces import sample
from tuning.tuner import fmt, trial_record
from zoo.plots import search_hyperparameters, search_objective
from zoo.runfolder import atomic_path, write_text


def hyperparameters_of(hypermodel, values: dict):
    """A ``keras_tuner.HyperParameters`` of ``hypermodel``'s space holding ``values``
    (a trial's row, as read back from ``results.csv``: strings are cast to each
    hyperparameter's type), to rebuild that trial's model with ``hypermodel.build``."""
    hp = keras_tuner.HyperParameters()
    sample(hp, hypermodel.space)
    for spec in hp.space:
        raw = values.get(spec.name)
        if raw is None or raw == "":
            continue
        kind = type(spec).__name__
        if kind == "Float":
            hp.values[spec.name] = float(raw)
        elif kind == "Int":
            hp.values[spec.name] = int(float(raw))
        else:
            options = getattr(spec, "values", None) or [spec.value]
            match = [o for o in options if str(o) == str(raw) or o == raw]
            if not match:
                raise ValueError(f"{spec.name}={raw!r} is not one of {options}.")
            hp.values[spec.name] = match[0]
    return hp


def trial_rows(tuner) -> list[dict[str, Any]]:
    """One row per trial: id, status, score, best epoch, its hyperparameters, and
    (where the process that ran it shares this disk) its seconds, resident memory
    after it and the worker that ran it."""
    rows = []
    for trial_id, trial in sorted(tuner.oracle.trials.items(), key=lambda kv: kv[0]):
        extra = trial_record(tuner.project_dir, trial_id)
        rows.append(
            {
                "trial_id": trial_id,
                "status": trial.status,
                "score": None if trial.score is None else float(trial.score),
                "best_epoch": None if trial.best_step is None else int(trial.best_step) + 1,
                **trial.hyperparameters.values,
                **{k: extra.get(k) for k in ("seconds", "rss_mb", "worker")},
            }
        )
    return rows


def write_results(rows: list[dict], folder: Path, objective: str) -> None:
    """``results.csv``, ``results.md``, ``objective.png`` and ``hyperparameters.png``."""
    if not rows:
        return
    columns = list(dict.fromkeys(k for r in rows for k in r))
    with atomic_path(folder / "results.csv") as tmp, tmp.open("w", newline="") as f:
        writer = csv.DictWriter(f, columns)
        writer.writeheader()
        writer.writerows(rows)
    lines = [
        "| " + " | ".join(columns) + " |",
        "|" + "---|" * len(columns),
        *(
            "| "
            + " | ".join(fmt(r.get(c, "")) if r.get(c) is not None else "" for c in columns)
            + " |"
            for r in rows
        ),
    ]
    write_text(
        folder / "results.md", f"# Random search ({objective})\n\n" + "\n".join(lines) + "\n"
    )
    scored = [r for r in rows if r["score"] is not None]
    if scored:
        search_objective(scored, objective, folder / "objective.png")
        search_hyperparameters(scored, objective, folder / "hyperparameters.png")
