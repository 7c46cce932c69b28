"""``random_search``: Keras Tuner's random search over a zoo hypermodel, resumable, with
a line per trial, a results table and plots, and the best model retrained on train +
validation, evaluated on test and exported through ``zoo``'s export path.

A search folder holds ``search/`` (Keras Tuner's own trial records: what makes it
resumable), ``results.csv`` and ``results.md`` (one row per trial), ``objective.png``
(the objective per trial and the best so far), ``hyperparameters.png`` (each
hyperparameter against the objective), ``space.json`` and ``best/`` (a run folder: the
retrained model, its evaluation and its verified export).
"""

from __future__ import annotations

import csv
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tuning.spaces import SPACES, family_of, parse_space

# Objectives zoo's compiled models log, with their direction.
_DIRECTIONS = {"loss": "min", "data_loss": "min", "accuracy": "max", "mae": "min"}


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


def _tuner_class():
    import keras_tuner

    class ZooRandomSearch(keras_tuner.RandomSearch):
        """RandomSearch that prints one line per finished trial."""

        say = staticmethod(print)

        def on_trial_end(self, trial):
            super().on_trial_end(trial)
            done = [t for t in self.oracle.trials.values() if t.status == "COMPLETED"]
            best = self.oracle.get_best_trials(1)
            best_score = best[0].score if best else None
            values = ", ".join(f"{k}={_fmt(v)}" for k, v in trial.hyperparameters.values.items())
            score = "failed" if trial.score is None else f"{trial.score:.4f}"
            self.say(
                f"trial {len(done)}/{self.oracle.max_trials} [{trial.trial_id}]: {values} -> "
                f"{self.oracle.objective.name} {score} (best so far "
                f"{'-' if best_score is None else f'{best_score:.4f}'})"
            )

    return ZooRandomSearch


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.3g}"
    return str(v)


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
    say=print,
    tuner_factory=None,
) -> SearchResult:
    """Random search over ``model``'s family (default: convnet for images, mlp for
    tables) on ``source``, ``trials`` trials of at most ``epochs`` epochs each with
    early stopping on ``objective`` (default ``val_data_loss``: the validation loss
    without the L1/L2 penalties, which ``val_loss`` includes and which would favour
    weak regularization). A folder that already holds a search resumes it
    (finished trials are kept, only the rest run) unless ``overwrite``. ``space``
    narrows or widens the family's space (``tuning.spaces``)."""
    import keras

    from zoo.train import TrainConfig, load_for

    if not seed:
        raise ValueError("seed=0 means 'no seed' to Keras Tuner; pass a non-zero seed.")
    if int(trials) < 1 or int(epochs) < 1:
        raise ValueError(f"trials={trials} and epochs={epochs} must be >= 1.")
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
        space = {**base, **space}
    else:
        space = parse_space(space, base)
    objective, direction = check_objective(objective, info.task)
    if not info.num_examples["val"] and objective.startswith("val_"):
        raise ValueError(f"{source} has no validation split; use objective='data_loss'.")

    from tuning.hypermodels import ZooHyperModel

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
    saved_space = folder / "space.json"
    described = {
        "source": str(source),
        "model": config.model,
        "objective": objective,
        "epochs": epochs,
        "seed": seed,
        "space": {k: list(v) for k, v in space.items()},
    }
    if saved_space.exists() and not overwrite:
        before = json.loads(saved_space.read_text())
        changed = [
            k for k in ("source", "model", "objective", "space") if before.get(k) != described[k]
        ]
        if changed:
            raise ValueError(
                f"{folder} holds a search with a different {', '.join(changed)}; resuming it "
                "would mix trials of two searches. Pass overwrite=True (--overwrite) or another "
                "folder."
            )
    saved_space.write_text(json.dumps(described, indent=2) + "\n")

    import keras_tuner

    factory = tuner_factory or _tuner_class()
    if tuner_factory is None:
        factory.say = staticmethod(say)
    tuner = factory(
        hypermodel,
        objective=keras_tuner.Objective(objective, direction),
        max_trials=int(trials),
        seed=int(seed),
        directory=str(folder),
        project_name="search",
        overwrite=overwrite,
    )
    before = sum(t.status == "COMPLETED" for t in tuner.oracle.trials.values())
    if before:
        say(f"resuming {folder}: {before} finished trial(s) kept, {max(0, trials - before)} to run")
    start = time.perf_counter()
    stop = keras.callbacks.EarlyStopping(monitor=objective, mode=direction, patience=patience)
    tuner.search(x, y, validation_data=(xv, yv), epochs=int(epochs), callbacks=[stop], verbose=0)
    seconds = time.perf_counter() - start
    rows = trial_rows(tuner)
    write_results(rows, folder, objective)
    done = [r for r in rows if r["score"] is not None]
    best = (min if direction == "min" else max)(done, key=lambda r: r["score"]) if done else None
    result = SearchResult(
        folder, rows, best, objective, seconds=seconds, trials_run_now=len(done) - before
    )
    if best is None:
        say("no trial finished; see the errors above.")
        return result
    say(f"best trial {best['trial_id']}: {objective} {best['score']:.4f}")
    if retrain:
        result.test = retrain_best(
            tuner, hypermodel, loaded, folder / "best", best, export, say, config=config
        )
    return result


def trial_rows(tuner) -> list[dict[str, Any]]:
    rows = []
    for trial_id, trial in sorted(tuner.oracle.trials.items(), key=lambda kv: kv[0]):
        rows.append(
            {
                "trial_id": trial_id,
                "status": trial.status,
                "score": None if trial.score is None else float(trial.score),
                "best_epoch": None if trial.best_step is None else int(trial.best_step) + 1,
                **trial.hyperparameters.values,
            }
        )
    return rows


def write_results(rows: list[dict], folder: Path, objective: str) -> None:
    """``results.csv``, ``results.md``, ``objective.png`` and ``hyperparameters.png``."""
    from zoo.plots import search_hyperparameters, search_objective

    if not rows:
        return
    columns = list(dict.fromkeys(k for r in rows for k in r))
    tmp = folder / ".results.csv.tmp"
    with tmp.open("w", newline="") as f:
        writer = csv.DictWriter(f, columns)
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, folder / "results.csv")
    lines = [
        "| " + " | ".join(columns) + " |",
        "|" + "---|" * len(columns),
        *(
            "| "
            + " | ".join(_fmt(r.get(c, "")) if r.get(c) is not None else "" for c in columns)
            + " |"
            for r in rows
        ),
    ]
    (folder / "results.md").write_text(
        f"# Random search ({objective})\n\n" + "\n".join(lines) + "\n"
    )
    scored = [r for r in rows if r["score"] is not None]
    if scored:
        search_objective(scored, objective, folder / "objective.png")
        search_hyperparameters(scored, objective, folder / "hyperparameters.png")


def retrain_best(
    tuner, hypermodel, loaded, run_dir: Path, best: dict, export: bool, say, config=None
) -> dict:
    """The best hyperparameters retrained on train + validation for the epochs their
    trial needed, evaluated on test (``zoo.evaluate``) and exported (verified). With
    the search's ``config``, ``run_dir`` gets a ``config.json`` too, so that ``zoo
    evaluate`` and ``zoo export`` take it like any run folder."""
    import keras
    import numpy as np

    from zoo.evaluation import evaluate, update_metrics
    from zoo.train import export_and_verify

    run_dir.mkdir(parents=True, exist_ok=True)
    hp = tuner.oracle.get_trial(best["trial_id"]).hyperparameters
    if config is not None:
        from dataclasses import asdict, replace

        from tuning.hypermodels import model_arguments

        name, kwargs = model_arguments(hypermodel.family, hp.values, hypermodel.model)
        chosen = replace(
            config,
            model=name,
            model_kwargs=kwargs,
            learning_rate=float(hp.values.get("learning_rate", config.learning_rate)),
            optimizer=str(hp.values.get("optimizer", config.optimizer)),
            batch_size=int(hp.values.get("batch_size", config.batch_size)),
            epochs=int(best.get("best_epoch") or 1),
        )
        (run_dir / "config.json").write_text(json.dumps(asdict(chosen), indent=2) + "\n")
    x, y = loaded.arrays("train")
    xv, yv = loaded.arrays("val")
    x_all, y_all = np.concatenate([x, xv]), np.concatenate([y, yv])
    epochs = int(best.get("best_epoch") or 1)
    keras.utils.set_random_seed(int(tuner.oracle.seed or 1))
    hypermodel.y_train = y_all
    model = hypermodel.build(hp)
    start = time.perf_counter()
    hypermodel.fit(hp, model, x_all, y_all, epochs=epochs, verbose=0, shuffle=True)
    seconds = time.perf_counter() - start
    model.save(run_dir / "model.keras")
    evaluation = evaluate(model, loaded, run_dir=run_dir, train=(x_all, y_all), write_metrics=False)
    record = {
        "hyperparameters": hp.values,
        "epochs": epochs,
        "train_seconds": round(seconds, 2),
        **evaluation.as_metrics(),
    }
    if export:
        record["export"] = export_and_verify(model, loaded, run_dir)
    update_metrics(run_dir / "metrics.json", record)
    summary = evaluation.lines()[0]
    say(
        f"best retrained on train + validation for {epochs} epochs ({seconds:.1f}s); "
        f"{summary}" + ("; exported and verified" if export else "")
    )
    test = evaluation.test
    return {k: v for k, v in test.items() if isinstance(v, float | int) and not math.isnan(v)}
