"""``random_search``: Keras Tuner's random (or grid) search over a zoo hypermodel,
resumable, with a line per trial, a results table and plots, worker processes, and the
best model retrained on train + validation, evaluated on test and exported through
``zoo``'s export path.

A search folder holds ``search/`` (Keras Tuner's own trial records: what makes it
resumable), ``results.csv`` and ``results.md`` (one row per trial), ``objective.png``
(the objective per trial and the best so far), ``hyperparameters.png`` (each
hyperparameter against the objective), ``space.json`` and ``best/`` (a run folder: the
retrained model, its evaluation and its verified export).

Workers (``workers=N``, ``zoo tune --workers N``): this process is the chief. It holds
the oracle (which trial runs next, every result) behind Keras Tuner's gRPC service on
the loopback interface and starts N worker processes, each with its share of the CPU
cores, that ask it for trials, train them and report back. A worker that dies
mid-trial has its trial put back in the queue and is replaced; finished trials are on
disk already. The same roles across machines come from Keras Tuner's environment
variables (``KERASTUNER_TUNER_ID``, ``KERASTUNER_ORACLE_IP``,
``KERASTUNER_ORACLE_PORT``): see the README.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import keras
import keras_tuner
import numpy as np

from tuning.hypermodels import ZooHyperModel, model_arguments
from tuning.results import hyperparameters_of, trial_rows, write_results
from tuning.spaces import SPACES, family_of, parse_space
from tuning.supervisor import serve_and_wait, worker_threads
from tuning.tuner import ALGORITHMS, make_tuner
from zoo.config import TrainConfig
from zoo.evaluation import evaluate
from zoo.export import export_and_verify
from zoo.packaged import save_packaged
from zoo.run import load_for, record
from zoo.runfolder import METRICS, read_json, update_metrics, write_config, write_json

# Objectives zoo's compiled models log, with their direction.
_DIRECTIONS = {"loss": "min", "data_loss": "min", "accuracy": "max", "mae": "min"}

__all__ = [
    "ALGORITHMS",
    "SearchResult",
    "check_objective",
    "hyperparameters_of",
    "random_search",
    "retrain_best",
    "role_from_environment",
    "worker_threads",
]


def check_objective(objective: str, task: str) -> tuple[str, str]:
    """``(objective, "min" | "max")``, or a ``ValueError`` naming the metrics that are
    logged, before any trial runs (a misspelled objective would otherwise only show up
    as every trial failing)."""
    logged = ["data_loss", "loss"] + (["accuracy"] if task == "classification" else ["mae"])
    names = logged + [f"val_{m}" for m in logged]
    if objective not in names:
        raise ValueError(
            f"objective {objective!r} is not a metric the {task} models log; "
            f"choose from {', '.join(names)} (val_ ones score on the validation split)."
        )
    return objective, _DIRECTIONS[objective.removeprefix("val_")]


@dataclass
class SearchResult:
    directory: Path
    rows: list[dict[str, Any]]
    best: dict[str, Any] | None
    objective: str
    test: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    trials_run_now: int = 0
    role: str = "single"  # "single", "chief" or "worker"


def role_from_environment() -> tuple[str, str | None]:
    """``("single", None)``, or Keras Tuner's distributed role from its environment
    variables: ``("chief" | "worker", "IP:PORT")``; half-set variables are an error."""
    ip = os.environ.get("KERASTUNER_ORACLE_IP")
    if not ip:
        return "single", None
    port = os.environ.get("KERASTUNER_ORACLE_PORT")
    tuner_id = os.environ.get("KERASTUNER_TUNER_ID")
    if not port or not tuner_id:
        raise ValueError(
            "KERASTUNER_ORACLE_IP is set, so this is a distributed search, but "
            f"KERASTUNER_ORACLE_PORT={port!r} and KERASTUNER_TUNER_ID={tuner_id!r}: set both "
            "(the chief's ID contains 'chief'; each worker's ID is unique), or unset all three."
        )
    return ("chief" if "chief" in tuner_id else "worker"), f"{ip}:{port}"


def random_search(
    source: str = "digits",
    model: str | None = None,
    *,
    trials: int = 20,
    epochs: int = 20,
    directory: str | os.PathLike | None = None,
    overwrite: bool = False,
    seed: int = 42,
    space: list[str] | dict[str, tuple] | None = None,
    objective: str = "val_data_loss",
    patience: int = 5,
    retrain: bool = True,
    export: bool = True,
    label: str | None = None,
    image_size=None,
    data_dir=None,
    workers: int = 0,
    algorithm: str = "random",
    say=print,
    tuner_factory=None,
) -> SearchResult:
    """Random search over ``model``'s family (default: convnet for images, mlp for
    tables) on ``source``, ``trials`` trials of at most ``epochs`` epochs each with
    early stopping on ``objective`` (default ``val_data_loss``: the validation loss
    without the L1/L2 penalties, which ``val_loss`` includes and which would favour
    weak regularization). A folder that already holds a search resumes it
    (finished trials are kept, only the rest run) unless ``overwrite``. ``space``
    narrows or widens the family's space (``tuning.spaces``). ``workers=N`` runs the
    trials in N worker processes with this one as the chief; ``algorithm="grid"``
    walks a grid instead (Keras Tuner's ``GridSearch``: ranges are cut into 10 points,
    so give it choices)."""
    if not seed:
        raise ValueError("seed=0 means 'no seed' to Keras Tuner; pass a non-zero seed.")
    if int(trials) < 1 or int(epochs) < 1:
        raise ValueError(f"trials={trials} and epochs={epochs} must be >= 1.")
    if int(workers) < 0:
        raise ValueError(f"workers={workers}: give 0 (train in this process) or more.")
    role, address = role_from_environment()
    if role == "worker" and workers:
        raise ValueError(
            f"this process is worker {os.environ['KERASTUNER_TUNER_ID']!r} (from "
            "KERASTUNER_TUNER_ID); only the chief starts workers: drop --workers."
        )
    if role == "worker" and overwrite:
        raise ValueError("a worker never overwrites the chief's search: drop --overwrite.")
    config, loaded = load_for(
        TrainConfig(
            data=source,
            model=model,
            seed=seed,
            label=label,
            image_size=image_size,
            data_dir=data_dir,
        )
    )
    info = loaded.info
    family = family_of(config.model)
    base = SPACES[family]
    if isinstance(space, dict):
        unknown = sorted(set(space) - set(base))
        if unknown:
            raise ValueError(f"space: {unknown} not in the {family} space ({', '.join(base)}).")
        space = {**base, **{k: tuple(v) for k, v in space.items()}}
    else:
        space = parse_space(space, base)
    objective, direction = check_objective(objective, info.task)
    if not info.num_examples["val"] and objective.startswith("val_"):
        raise ValueError(f"{source} has no validation split; use objective='data_loss'.")

    x, y = loaded.arrays("train")
    xv, yv = loaded.arrays("val")
    hypermodel = ZooHyperModel(
        family,
        input_shape=info.input_shape,
        num_classes=info.num_classes,
        task=info.task,
        y_train=y,
        space=space,
        model=config.model,
    )
    folder = Path(directory or f"runs/tune-{config.model}-{loaded.data.name}")
    folder.mkdir(parents=True, exist_ok=True)
    described = {
        "source": str(source),
        "model": config.model,
        "objective": objective,
        "algorithm": algorithm,
        "epochs": epochs,
        "seed": seed,
        "space": {k: list(v) for k, v in space.items()},
    }
    if role != "worker":
        _check_same_search(folder, described, overwrite)

    if algorithm not in ALGORITHMS:
        raise ValueError(f"algorithm {algorithm!r}: choose from {', '.join(ALGORITHMS)}.")
    tuner = (tuner_factory or make_tuner)(
        algorithm,
        hypermodel,
        objective=keras_tuner.Objective(objective, direction),
        max_trials=int(trials),
        seed=int(seed),
        directory=str(folder),
        project_name="search",
        overwrite=overwrite,
    )
    tuner.oracle.say = say
    stop = keras.callbacks.EarlyStopping(monitor=objective, mode=direction, patience=patience)
    fit = dict(validation_data=(xv, yv), epochs=int(epochs), callbacks=[stop], verbose=0)
    start = time.perf_counter()
    if role == "worker":
        say(f"worker {tuner.tuner_id}: asking the chief at {address} for trials")
        tuner.search(x, y, **fit)
        say(f"worker {tuner.tuner_id}: no trials left")
        return SearchResult(folder, [], None, objective, role="worker")

    before = sum(t.status == "COMPLETED" for t in tuner.oracle.trials.values())
    if before:
        say(f"resuming {folder}: {before} finished trial(s) kept, {max(0, trials - before)} to run")
    if role == "chief" or workers:
        spec = {
            **described,
            "trials": int(trials),
            "patience": patience,
            "label": label,
            "image_size": list(image_size) if image_size else None,
            "data_dir": None if data_dir is None else str(data_dir),
            "directory": str(folder.resolve()),
        }
        serve_and_wait(tuner, folder, spec, int(workers), address, say)
    else:
        tuner.search(x, y, **fit)
    seconds = time.perf_counter() - start
    rows = trial_rows(tuner)
    write_results(rows, folder, objective)
    done = [r for r in rows if r["score"] is not None]
    best = (min if direction == "min" else max)(done, key=lambda r: r["score"]) if done else None
    result = SearchResult(
        folder,
        rows,
        best,
        objective,
        seconds=seconds,
        trials_run_now=len(done) - before,
        role="chief" if role == "chief" or workers else "single",
    )
    if best is None:
        say("no trial finished; see the errors above.")
        return result
    ordinal = int(best["trial_id"]) + 1 if str(best["trial_id"]).isdigit() else None
    which = f"trial {ordinal} (trial_id {best['trial_id']})" if ordinal else best["trial_id"]
    say(f"best: {which}, {objective} {best['score']:.4f}")
    if retrain:
        result.test = retrain_best(
            tuner, hypermodel, loaded, folder / "best", best, export, say, config=config
        )
    return result


def _check_same_search(folder: Path, described: dict, overwrite: bool) -> None:
    """Refuse to resume ``folder`` with another search's settings; record these."""
    saved_space = folder / "space.json"
    if saved_space.exists() and not overwrite:
        before = read_json(saved_space)
        before.setdefault("algorithm", "random")
        changed = [
            k
            for k in ("source", "model", "objective", "algorithm", "space")
            if before.get(k) != described[k]
        ]
        if changed:
            raise ValueError(
                f"{folder} holds a search with a different {', '.join(changed)}; resuming it "
                "would mix trials of two searches. Pass overwrite=True (--overwrite) or another "
                "folder."
            )
    write_json(saved_space, described)


def retrain_best(
    tuner, hypermodel, loaded, run_dir: Path, best: dict, export: bool, say, config=None
) -> dict:
    """The best hyperparameters retrained on train + validation for the epochs their
    trial needed, evaluated on test (``zoo.evaluate``) and exported (verified). With
    the search's ``config``, ``run_dir`` gets a ``config.json`` too, so that ``zoo
    evaluate`` and ``zoo export`` take it like any run folder."""
    run_dir.mkdir(parents=True, exist_ok=True)
    hp = tuner.oracle.get_trial(best["trial_id"]).hyperparameters
    name, kwargs = model_arguments(hypermodel.family, hp.values, hypermodel.model)
    epochs = int(best.get("best_epoch") or 1)
    base = config or TrainConfig(data=loaded.data.name)
    chosen = replace(
        base,
        model=name,
        model_kwargs=kwargs,
        learning_rate=float(hp.values.get("learning_rate", base.learning_rate)),
        optimizer=str(hp.values.get("optimizer", base.optimizer)),
        batch_size=int(hp.values.get("batch_size", base.batch_size)),
        epochs=epochs,
    )
    if config is not None:
        write_config(run_dir, chosen)
    x, y = loaded.arrays("train")
    xv, yv = loaded.arrays("val")
    x_all, y_all = np.concatenate([x, xv]), np.concatenate([y, yv])
    keras.utils.set_random_seed(int(tuner.oracle.seed or 1))
    hypermodel.y_train = y_all
    model = hypermodel.build(hp)
    start = time.perf_counter()
    hypermodel.fit(hp, model, x_all, y_all, epochs=epochs, verbose=0, shuffle=True)
    seconds = time.perf_counter() - start
    save_packaged(model, run_dir / "model.keras", loaded.preprocess, loaded.info)
    evaluation = evaluate(model, loaded, run_dir=run_dir, train=(x_all, y_all), write_metrics=False)
    count = loaded.info.num_examples  # the retraining's: train and validation together
    record(
        run_dir,
        chosen,
        evaluation,
        epochs_this_session=epochs,
        epochs_run=epochs,
        train_seconds=seconds,
        num_examples={"train": count["train"] + count["val"], "val": 0, "test": count["test"]},
        started=start,
        hyperparameters=hp.values,
    )
    if export:
        update_metrics(run_dir / METRICS, {"export": export_and_verify(model, loaded, run_dir)})
    summary = evaluation.lines()[0]
    say(
        f"best retrained on train + validation for {epochs} epochs ({seconds:.1f}s); "
        f"{summary}" + ("; exported and verified" if export else "")
    )
    test = evaluation.test
    return {k: v for k, v in test.items() if isinstance(v, float | int) and not math.isnan(v)}
