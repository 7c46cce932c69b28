"""A run as stages over one context (``Run``): load, plan, hold the folder, build,
train, evaluate, record, export. ``zoo train`` is ``train_and_export``: these stages in
order. ``zoo recipe`` (``zoo.recipe.main``) runs the same stages with its own between
them (inspect the data, the sanity checks, the report). The templates write their
``metrics.json`` through ``record``, so every run folder's record has the keys of
``METRICS`` and a setting (``--devices``, ``--time-budget``, ...) means the same in
every command.

A stage reads what the stages before it left on the ``Run`` and leaves its own there:

- ``load``: the settings validated, the data read once (splits, preprocessing), the
  devices counted; nothing written yet, so every wrong setting fails here;
- ``plan``: every choice made from the data and the time budget, once
  (``zoo.plan.plan_run``), each said with its reason;
- ``folder``: the run folder held for this process (``zoo.runfolder.hold``: resumed
  when interrupted, refused when finished), the config written;
- ``build``: the function that makes a fresh compiled model (``zoo.train.build_fn``);
- ``train``: the model built and fitted on the run's devices (``zoo.distribute``), its
  output bias set from the training labels; a copy on one device for what follows;
- ``evaluate``: the test split, Keras' compiled metrics and ``zoo.evaluate``'s figures;
- ``record``: ``metrics.json``, written whole before the export starts;
- ``export``: the SavedModel (and other formats), verified in a fresh process.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import keras

from zoo.config import TrainConfig, check_export_backend, resolve_steps_per_execution, validate
from zoo.data import Loaded
from zoo.data import load as load_source
from zoo.distribute import device_count, distributed, single_device_copy
from zoo.evaluation import Evaluation
from zoo.evaluation import evaluate as evaluate_model
from zoo.export import export_and_verify
from zoo.outputs import init_output_bias
from zoo.plan import Planned, measure_step, plan_run
from zoo.runfolder import (
    METRICS,
    Held,
    epochs_logged,
    hold,
    new_run_dir,
    update_metrics,
    write_config,
)
from zoo.train import build_fn, fit
from zoo.weights import normalization

__all__ = [
    "METRICS_SCHEMA",
    "Run",
    "schema_problems",
    "build",
    "evaluate",
    "export",
    "folder",
    "load",
    "load_for",
    "plan",
    "record",
    "train",
    "train_and_export",
]

#: The keys of every ``metrics.json`` a training run writes (``zoo train``, ``zoo
#: recipe``, ``zoo tune``'s retrained best, the templates), and what each holds. A
#: command adds its own keys beside them (the recipe: ``dead_units``; a template: its
#: baselines and comparisons).
METRICS_SCHEMA = {
    "data": "the data source as given (a bundled name, a folder, a CSV, tfds:NAME)",
    "model": "the model's name in the registry (`zoo models`)",
    "epochs_run": "epochs the shipped model trained, over every session (resumed ones too; "
    "an ensemble: its members' sum)",
    "epochs_this_session": "epochs of those this process trained",
    "resumed_from": "the epoch an interrupted run went on from, else null",
    "train_seconds": "seconds spent in training this session",
    "total_seconds": "seconds the whole run took, loading to export",
    "devices": "devices the training ran on (--devices)",
    "num_examples": "examples per split: train, val, test",
    "test": "the test split's figures: Keras' compiled metrics and zoo.evaluate's",
    "evaluation": "per-class figures, calibration or residuals (zoo.evaluate)",
    "bias_variance": "training, validation and test error and what to try next",
    "chosen": "settings zoo chose from the data or the time budget: {setting: {value, why}}",
    "plan": "the measured training step and the epochs planned for the time budget, or {}",
    "checks": "the sanity checks' results by name, or {} where none ran",
    "passed": "whether every sanity check passed; null where none ran",
    "export": "each exported format's file and its verification in a fresh process",
}


def schema_problems(metrics: dict) -> list[str]:
    """What keeps ``metrics`` (a ``metrics.json`` read back) from the one schema: each
    missing key of ``METRICS_SCHEMA``, and each present one of the wrong kind."""
    kinds = {
        "epochs_run": int,
        "epochs_this_session": int,
        "train_seconds": float | int,
        "devices": int,
        "num_examples": dict,
        "test": dict,
        "chosen": dict,
        "plan": dict,
        "checks": dict,
        "export": dict,
    }
    problems = [f"no {key!r}" for key in METRICS_SCHEMA if key not in metrics]
    for key, kind in kinds.items():
        value = metrics.get(key)
        if key in metrics and (isinstance(value, bool) or not isinstance(value, kind)):
            problems.append(f"{key}={value!r} is not {kind}")
    if "passed" in metrics and metrics["passed"] not in (True, False, None):
        problems.append(f"passed={metrics['passed']!r} is not true, false or null")
    if isinstance(metrics.get("num_examples"), dict):
        if set(metrics["num_examples"]) != {"train", "val", "test"}:
            problems.append(f"num_examples has {sorted(metrics['num_examples'])}")
    return problems


@dataclass
class Run:
    """What the stages share. Given: the settings and how to talk; the stages fill in
    the rest."""

    config: TrainConfig
    say: Callable[[str], None] = print
    verbose: int = 2
    progress: bool = False  # a bar over the epochs
    formats: tuple = ("savedmodel",)
    keep: set | None = None  # the settings the user gave (None: zoo chooses none)
    started: float = field(default_factory=time.perf_counter)
    loaded: Loaded | None = None
    devices: int = 1
    planned: Planned | None = None
    run_dir: Path | None = None
    held: Held | None = None
    build: Callable | None = None
    model: keras.Model | None = None
    history: dict = field(default_factory=dict)
    train_seconds: float = 0.0
    training_began: float | None = None  # seconds into the run
    scores: dict = field(default_factory=dict)  # Keras' compiled metrics on test
    evaluation: Evaluation | None = None


def load_data(config: TrainConfig):
    """``config`` validated and its data loaded (``zoo.data.load`` with its data
    settings), nothing chosen or filled in. Returns ``(config, loaded)``."""
    validate(config)  # wrong settings fail before anything is read or written
    loaded = load_source(
        config.data,
        val_fraction=config.val_fraction,
        test_fraction=config.test_fraction,
        batch_size=config.batch_size,
        seed=config.seed,
        label=config.label,
        image_size=config.image_size,
        data_dir=config.data_dir,
        normalize=normalization(config.normalize, config.weights),
        augment=config.augment,
        fold=config.fold,
    )
    return config, loaded


def default_model(config: TrainConfig, loaded) -> TrainConfig:
    """``config`` with its model filled in where none was given: ``convnet`` for
    images, ``mlp`` for tabular data."""
    if config.model is not None:
        return config
    return validate(replace(config, model="convnet" if loaded.data.kind == "image" else "mlp"))


def load_for(config: TrainConfig):
    """``config`` validated, its data loaded and its model filled in (``load_data``,
    ``default_model``): what a template or a finished run's command starts from.
    Returns ``(config, loaded)``. ``plan`` also chooses settings from the data."""
    config, loaded = load_data(config)
    return default_model(config, loaded), loaded


def rebatch(loaded, config: TrainConfig):
    """``loaded`` with pipelines of ``config``'s batch size and augmentation, where
    they differ from what it was loaded with."""
    if loaded.batching == (config.batch_size, config.augment):
        return loaded
    return loaded.with_batches(config.batch_size, config.augment, config.seed)


def load(run: Run) -> Run:
    """The settings validated (an export format this backend cannot write, too few
    devices, a wrong steps-per-execution all fail here, before anything is written),
    the data read once."""
    check_export_backend(run.formats)
    run.config, run.loaded = load_data(run.config)
    run.devices = device_count(run.config.devices, run.config.batch_size)
    resolve_steps_per_execution(run.config.steps_per_execution, devices=run.devices)
    return run


def plan(run: Run, before: Callable[[TrainConfig, float], float] | None = None) -> Planned:
    """Every choice of the run, once (``zoo.plan.plan_run``): the settings the data
    calls for, and for a long run the measured step, the width and epochs that fit
    the time budget. ``before(config, step)``: seconds the run still spends before
    training (the recipe's checks). Each choice is said with its reason."""
    loaded = run.loaded

    def measure(config: TrainConfig) -> float:
        data = rebatch(loaded, config)
        return measure_step(build_fn(config, data), data, config)

    planned = plan_run(
        run.config,
        loaded.info,
        keep=run.keep,
        measure=measure,
        started=run.started,
        formats=run.formats,
        before=before,
    )
    planned.config = default_model(planned.config, loaded)
    run.config, run.planned = planned.config, planned
    run.loaded = rebatch(loaded, run.config)
    for line in planned.lines:
        run.say(line)
    return planned


@contextmanager
def folder(run: Run, name: str, run_dir=None, *, overwrite: bool = False) -> Iterator[Run]:
    """The run folder (``run_dir``, else a new ``runs/<name>-<time>``) held for this
    process (``zoo.runfolder.hold``): an interrupted run with the same settings
    resumes from its last finished epoch, a finished one is refused unless
    ``overwrite``. What the hold found is said; the config is written."""
    path = Path(run_dir) if run_dir else new_run_dir(name)
    with hold(path, config=run.config, overwrite=overwrite) as held:
        run.run_dir, run.held = path, held
        for line in held.notes:
            run.say(line)
        if held.resumed_from is not None:
            run.say(
                f"resuming {held.path}: {held.resumed_from} of {run.config.epochs} epochs "
                f"were done (backup/); training continues from epoch {held.resumed_from + 1}"
            )
        write_config(path, run.config)
        if run.devices > 1:
            run.say(
                f"training on {run.devices} devices: global batch {run.config.batch_size} "
                f"({run.config.batch_size // run.devices} per device), learning rate as set"
            )
        yield run


def build(run: Run) -> Callable:
    """The function that makes a fresh model compiled as the settings say."""
    keras.utils.set_random_seed(run.config.seed)
    run.build = build_fn(run.config, run.loaded)
    return run.build


def train(run: Run, callbacks=()) -> keras.Model:
    """The model built and fitted on the run's devices, its output bias set from the
    training labels, with the standard callbacks and ``callbacks``; fitted to the
    planned deadline where there is one. Afterwards a copy on one device (evaluation
    and export see every example)."""
    config, loaded = run.config, run.loaded
    build_model = run.build or build(run)
    planned = run.planned
    keras.utils.set_random_seed(config.seed)
    run.training_began = round(time.perf_counter() - run.started, 2)
    with distributed(config.devices, config.batch_size):
        model = build_model()
        if getattr(model, "loaded_weights", None) is not None:
            run.say(model.loaded_weights.line())
        init_output_bias(model, loaded.data.y[loaded.indices["train"]])
        run.history, run.train_seconds = fit(
            model,
            loaded,
            config,
            run.run_dir,
            extra=callbacks,
            verbose=run.verbose,
            devices=run.devices,
            deadline=planned.deadline if planned else None,
            progress=run.progress,
            most=planned.plan.most if planned and planned.plan else None,
        )
    if run.devices > 1:
        model = single_device_copy(model, build_model)
    run.model = model
    return model


def test_scores(run: Run) -> dict:
    """Keras' compiled metrics on the test split."""
    scores = run.model.evaluate(run.loaded.test, verbose=0, return_dict=True)
    run.scores = {k: float(v) for k, v in scores.items()}
    return run.scores


def evaluate(run: Run) -> Evaluation:
    """The test split: Keras' compiled metrics (``test_scores``, once) and
    ``zoo.evaluate``'s figures, plots and ``evaluation.md``."""
    if not run.scores:
        test_scores(run)
    run.evaluation = evaluate_model(
        run.model,
        run.loaded,
        run_dir=run.run_dir,
        write_metrics=False,
        epochs_set_by=run.planned.epochs_set_by if run.planned else None,
    )
    return run.evaluation


def record(
    run_dir,
    config: TrainConfig,
    evaluation: Evaluation,
    *,
    epochs_this_session: int,
    train_seconds: float,
    num_examples: dict,
    started: float | None = None,
    compiled: dict | None = None,
    resumed_from: int | None = None,
    devices: int = 1,
    planned: Planned | None = None,
    training_began: float | None = None,
    checks=None,
    epochs_run: int | None = None,
    **extra,
) -> dict:
    """Write ``run_dir/metrics.json`` with the keys of ``METRICS_SCHEMA`` (and
    ``extra``), whole, before an export starts; returns it. ``compiled``: Keras'
    compiled metrics on the test split, beside ``evaluation``'s. ``checks``: a
    ``zoo.checks.ChecksReport``; ``epochs_run``: where the run trained several models
    (the epochs of them all), else read from the folder's history."""
    plan_record = planned.record() if planned else {}
    if plan_record and training_began is not None:
        plan_record["training_began"] = training_began
    result = {
        "data": config.data,
        "model": config.model,
        "epochs_run": epochs_logged(run_dir) if epochs_run is None else epochs_run,
        "epochs_this_session": epochs_this_session,
        "resumed_from": resumed_from,
        "train_seconds": round(train_seconds, 2),
        "total_seconds": round(time.perf_counter() - started, 2) if started else None,
        "devices": devices,
        "num_examples": num_examples,
        **evaluation.as_metrics(),
        "chosen": {c.setting: {"value": c.value, "why": c.why} for c in planned.chosen}
        if planned
        else {},
        "plan": plan_record,
        "checks": {},
        "passed": None,
        "export": {},
        **extra,
    }
    result["test"] = {**(compiled or {}), **evaluation.test}
    if checks is not None:
        result["passed"] = checks.passed
        result["checks"] = {
            r.name: {k: v for k, v in r.as_record().items() if k not in ("name", "seconds")}
            for r in checks.results
        }
    update_metrics(Path(run_dir) / METRICS, result)
    return result


def record_run(run: Run, **extra) -> dict:
    """``record`` for a ``Run`` that has trained and been evaluated."""
    return record(
        run.run_dir,
        run.config,
        run.evaluation,
        epochs_this_session=len(run.history.get("loss", [])),
        train_seconds=run.train_seconds,
        num_examples=run.loaded.info.num_examples,
        started=run.started,
        compiled=run.scores,
        resumed_from=run.held.resumed_from if run.held else None,
        devices=run.devices,
        planned=run.planned,
        training_began=run.training_began,
        **extra,
    )


def export(run: Run) -> dict:
    """The exports, each verified in a fresh process of its runtime; ``metrics.json``
    updated with them and the run's total time."""
    result = export_and_verify(run.model, run.loaded, run.run_dir, formats=run.formats)
    update_metrics(run.run_dir / METRICS, {"export": result})
    return result


def finish(run: Run) -> float:
    """The run's total seconds, written into ``metrics.json``."""
    total = round(time.perf_counter() - run.started, 2)
    update_metrics(run.run_dir / METRICS, {"total_seconds": total})
    return total


def train_and_export(
    config: TrainConfig | None = None,
    run_dir: str | Path | None = None,
    verbose: int = 2,
    formats=("savedmodel",),
    *,
    overwrite: bool = False,
    say=print,
    keep=None,
    progress: bool = False,
) -> dict:
    """``zoo train``: train ``config.model`` on ``config.data`` with the standard
    callbacks, evaluate on the test split, export and verify; every stage above in
    order. Returns what ``metrics.json`` holds, plus ``run_dir``.

    ``keep``: the settings the user gave; the others are chosen from the data
    (``zoo.plan``; None: none is). ``config.time_budget`` bounds the whole run;
    ``progress`` shows a bar over the epochs. Everything is checked before the run
    folder is touched; an interrupted run with the same settings resumes, a finished
    one is refused unless ``overwrite``."""
    run = Run(config or TrainConfig(), say, verbose, progress, tuple(formats), keep)
    load(run)
    plan(run)
    name = f"{run.config.model}-{run.loaded.data.name}"
    with folder(run, name, run_dir, overwrite=overwrite):
        build(run)
        train(run)
        evaluate(run)
        result = record_run(run)
        result["export"] = export(run)
        result["total_seconds"] = finish(run)
    result["run_dir"] = str(run.run_dir)
    return result
