"""Train a zoo model on a data set and export it, writing everything into one run
folder (``zoo.runfolder`` says what it holds). The pieces (``build_fn``, ``fit``) are
what the recipe, the templates and the tuner call; ``train_and_export`` strings them
together with the evaluation and the export.
"""

from __future__ import annotations

import math
import time
from dataclasses import replace
from pathlib import Path

import keras
import numpy as np

from zoo import interrupts
from zoo.callbacks import TimeBudget, learning_rate, standard
from zoo.config import TrainConfig, resolve_steps_per_execution, validate
from zoo.data import load
from zoo.data.splits import refit_folds
from zoo.distribute import device_count, distributed, even_batches, single_device_copy
from zoo.ensemble import ensemble
from zoo.evaluation import evaluate
from zoo.export import check_export_backend, export_and_verify
from zoo.optim import compile_model
from zoo.outputs import init_output_bias
from zoo.plan import (
    AUGMENT_STEP_COST,
    CHOOSABLE,
    LARGE,
    after_training_seconds,
    augment_for,
    choose,
    epoch_seconds,
    measure_step,
    narrower_for,
    plan_epochs,
)
from zoo.plots import plot_history
from zoo.registry import create_model
from zoo.runfolder import (
    epochs_logged,
    hold,
    new_run_dir,
    save_model,
    update_metrics,
    write_config,
)

__all__ = ["TrainConfig", "build_fn", "cross_fit", "fit", "load_for", "train_and_export"]


def load_for(config: TrainConfig, *, keep=None, say=None, chosen: list | None = None):
    """``config`` validated and its data loaded (``zoo.data.load`` with its data
    settings); the model name filled in (convnet for images, mlp for tabular data).
    With ``keep`` (the settings the user gave), the others are chosen from the data
    (``zoo.plan.choose``) and each choice goes to ``say`` with its reason (and is
    appended to ``chosen``). Returns ``(config, loaded)``."""
    validate(config)  # wrong settings fail before anything is read or written
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
    if keep is not None:
        config, choices = choose(config, loaded.info, keep)
        loaded = rebatch(loaded, config)
        for c in choices:
            (say or print)(f"chosen from the data: {c.line()}")
        if chosen is not None:
            chosen.extend(choices)
    if config.model is None:
        config = validate(
            replace(config, model="convnet" if loaded.data.kind == "image" else "mlp")
        )
    return config, loaded


def rebatch(loaded, config: TrainConfig):
    """``loaded`` with pipelines of ``config``'s batch size and augmentation, where
    they differ from what it was loaded with."""
    if loaded.batching == (config.batch_size, config.augment):
        return loaded
    return loaded.with_batches(config.batch_size, config.augment, config.seed)


def build_fn(config: TrainConfig, loaded, **model_kwargs):
    """A zero-argument callable returning a fresh model compiled as ``config`` says
    (``config.model_kwargs`` updated by ``model_kwargs`` go to the model), its
    learning-rate schedule planned over ``config.epochs``."""
    info = loaded.info
    steps = config.epochs * max(1, math.ceil(info.num_examples["train"] / config.batch_size))
    model_kwargs = {**config.model_kwargs, **model_kwargs}
    # once, not per build: the device count lists the backend's devices
    steps_per_execution = resolve_steps_per_execution(
        config.steps_per_execution, devices=device_count(config.devices)
    )

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
            steps_per_execution=steps_per_execution,
        )

    build.total_steps = steps
    return build


def fit(
    model,
    loaded,
    config: TrainConfig,
    run_dir: Path,
    *,
    extra=(),
    verbose: int = 2,
    devices=1,
    deadline: float | None = None,
    progress: bool = False,
    most: int | None = None,
):
    """Train with the standard callbacks (on ``devices`` devices, inside
    ``zoo.distribute.distributed``); returns ``(history dict, seconds)``. With a
    ``deadline`` (``time.perf_counter()``), the epochs are fitted to it as they are
    measured, from ``config.epochs`` planned up to ``most`` (``zoo.callbacks.
    TimeBudget``); ``progress`` shows a bar over the epochs with the time left."""
    keras.utils.set_random_seed(config.seed)
    most = max(most or config.epochs, config.epochs)
    steps = math.ceil(loaded.info.num_examples["train"] / config.batch_size)
    budget = TimeBudget(
        config.epochs,
        deadline,
        show=progress and not verbose,
        most=most,
        steps_per_epoch=steps,
    )
    callbacks = standard(
        run_dir, patience=config.patience, schedule=config.schedule, extra=[*extra, budget]
    )
    count = loaded.info.num_examples
    train = even_batches(loaded.train, count["train"], devices, config.batch_size)
    val = even_batches(loaded.val, count["val"], devices, config.batch_size)
    start = time.perf_counter()
    history = model.fit(
        train,
        validation_data=val,
        epochs=most if deadline is not None else config.epochs,
        shuffle=False,  # the training pipeline shuffles, with the seed
        callbacks=callbacks,
        verbose=verbose,
    )
    seconds = time.perf_counter() - start
    interrupts.check(" at the end of training")  # a signal during the last batch
    plot_history(history.history, run_dir / "curves.png")
    save_model(model, run_dir / "model.keras")
    return history.history, seconds


def cross_fit(config: TrainConfig, loaded, run_dir: Path, *, folds: int = 5, verbose: int = 0):
    """The model to ship from a small table, trained on every row a network may learn
    from (the notes: "get more data", then "ensembles"). A single run leaves the
    validation rows out of training to stop it early; here the training and validation
    rows are cut into ``folds`` parts and ``folds`` models are trained (``fit``, run
    folder ``run_dir/member-J``), each on all parts but one and stopped early on that
    one, so every row trains all members but one. Their average
    (``zoo.ensemble.ensemble``) is returned with the members: ``(model, members)``.
    Each member sees no more rows than the single run did, but together they learn
    from every row, each stops on a larger held-out part, and their errors average
    out. Costs ``folds`` more trainings: meant for small tables (diabetes, 442 rows:
    R^2 0.4741 -> 0.4851 over 5 seeds of 5-fold CV; docs/benchmarks.md)."""
    info, y = loaded.info, loaded.data.y
    rows = np.concatenate([loaded.indices["train"], loaded.indices["val"]])
    classification = info.task == "classification"
    parts = refit_folds(y, rows, folds, seed=config.seed, stratify=classification)
    members = []
    for j, (train, val) in enumerate(parts):
        count = {**info.num_examples, "train": len(train), "val": len(val)}
        part = replace(
            loaded,
            indices={**loaded.indices, "train": train, "val": val},
            info=replace(info, num_examples=count),
            _raw={},
        ).with_batches(config.batch_size, config.augment, config.seed + j)
        member_config = replace(config, seed=config.seed + j)
        keras.utils.set_random_seed(member_config.seed)
        model = build_fn(member_config, part)()
        init_output_bias(model, y[train])
        fit(model, part, member_config, Path(run_dir) / f"member-{j}", verbose=verbose)
        members.append(model)
    task = "classification" if classification else "regression"
    return ensemble(members, task=task, name=f"{config.model}_x{folds}"), members


def set_by(config: TrainConfig) -> str | None:
    """What fixed the number of epochs, for the advice after training: the time
    budget, where there is one (``zoo.evaluate``'s ``epochs_set_by``)."""
    return "the time budget (--time-budget)" if config.time_budget else None


def needs_plan(config: TrainConfig, loaded) -> bool:
    """Whether a run is long enough to measure and plan: a time budget, or a data set
    of ``zoo.plan.LARGE`` training examples or more (the bundled sets are not)."""
    return bool(config.time_budget) or loaded.info.num_examples["train"] >= LARGE


def plan_training(
    config: TrainConfig,
    loaded,
    *,
    started: float,
    keep=None,
    say=print,
    formats=(),
    step: float | None = None,
    chosen: list | None = None,
):
    """Size the training to the time left. With ``config.time_budget`` (seconds for
    the whole run, counted from ``started``, a ``time.perf_counter()`` value): the
    epochs that fit before the time evaluation and export will need (``zoo.plan``,
    from a training step measured on the real pipeline, or ``step``), augmentation
    when they are many and the user gave none (appended to ``chosen``). Without a
    budget: what the epochs will cost, said before they start. Returns ``(config,
    loaded, deadline, plan)``: the deadline for training and the ``zoo.plan.Plan``
    (None, None without a budget); ``plan.most`` caps the epochs as ``fit`` re-plans
    them."""
    keep = kept(keep)
    info = loaded.info
    if step is None:
        config, step = width_for_budget(
            config, loaded, started, keep, say, formats=formats, chosen=chosen
        )
    if not config.time_budget:
        epoch = epoch_seconds(step, info, config.batch_size)
        say(
            f"up to {config.epochs} epochs of about {epoch:.0f}s: at most "
            f"{duration(config.epochs * epoch)}; early stopping usually ends sooner "
            "(--time-budget bounds the whole run)"
        )
        return config, loaded, None, None
    after = after_training_seconds(step, info, config.batch_size, formats)
    end = started + config.time_budget - after
    most = config.epochs  # the user's --epochs, else the default: the most epochs to grow to
    plan = plan_epochs(step, info, config.batch_size, end - time.perf_counter(), most=most)
    config, choices = augment_for(config, plan.epochs, keep)
    if choices:  # shifted copies cost pipeline time: estimated here, measured per epoch
        loaded = rebatch(loaded, config)
        step *= AUGMENT_STEP_COST
        plan = plan_epochs(step, info, config.batch_size, end - time.perf_counter(), most=most)
        say(f"chosen from the plan: {choices[0].line()}")
        if chosen is not None:
            chosen.extend(choices)
    say(
        f"time budget {duration(config.time_budget)}: {plan.line()}; evaluation and "
        f"export take about {duration(after)} after it"
    )
    return replace(config, epochs=plan.epochs), loaded, end, plan


def kept(keep) -> set[str]:
    """The settings zoo leaves as given: ``keep``, or all of them when it is None (the
    Python API without choosing)."""
    return set(CHOOSABLE) if keep is None else set(keep)


def width_for_budget(
    config, loaded, started: float, keep, say, formats=(), chosen=None, before=None
):
    """Measure a training step (``zoo.plan.measure_step``) and, with a time budget,
    halve the model's width when too few epochs would fit at full width
    (``zoo.plan.narrower_for``; the step measured again). ``before(step)``: the
    seconds still to spend before training (the recipe's checks). Returns
    ``(config, step)``."""
    step = measure_step(build_fn(config, loaded), loaded, config)
    if not config.time_budget:
        return config, step
    info = loaded.info
    left = started + config.time_budget - time.perf_counter()
    left -= after_training_seconds(step, info, config.batch_size, formats)
    left -= before(step) if before else 0.0
    config, choices = narrower_for(config, step, info, left, kept(keep))
    if choices:
        say(f"chosen from the time left: {choices[0].line()}")
        step = measure_step(build_fn(config, loaded), loaded, config)
        if chosen is not None:
            chosen.extend(choices)
    return config, step


def duration(seconds: float) -> str:
    """``95`` -> ``"1 min 35 s"``; under a minute in seconds."""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours} h {minutes} min" if hours else f"{minutes} min {secs} s"


def begin_run(held, config: TrainConfig, say=print) -> None:
    """Tell the user what ``held`` (``zoo.runfolder.hold``) found (a backup restored
    from its previous copy; a run resumed, from which epoch) and write the config."""
    for line in held.notes:
        say(line)
    if held.resumed_from is not None:
        say(
            f"resuming {held.path}: {held.resumed_from} of {config.epochs} epochs were done "
            f"(backup/); training continues from epoch {held.resumed_from + 1}"
        )
    write_config(held.path, config)


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
    """Train ``config.model`` on ``config.data`` with the standard callbacks (the output
    bias set from the training labels), evaluate on the test split (``zoo.evaluate``:
    figures, plots, ``evaluation.md``), export and verify. Returns the metrics written to
    ``metrics.json``.

    ``keep``: the settings the user gave; the others are chosen from the data
    (``zoo.plan``; None: none is). ``config.time_budget`` bounds the whole run
    (``plan_training``); ``progress`` shows a bar over the epochs.

    Everything is checked before the run folder is touched; the folder is held for
    this process alone (``zoo.runfolder.hold``): an interrupted run with the same
    settings resumes from its last finished epoch, a finished one is refused unless
    ``overwrite``."""
    started = time.perf_counter()
    check_export_backend(formats)  # a format this backend cannot write fails first
    config, loaded = load_for(config or TrainConfig(), keep=keep, say=say)
    devices = device_count(config.devices, config.batch_size)  # too few fail here too
    resolve_steps_per_execution(config.steps_per_execution, devices=devices)
    run_dir = Path(run_dir) if run_dir else new_run_dir(f"{config.model}-{loaded.data.name}")
    with hold(run_dir, config=config, overwrite=overwrite) as held:
        begin_run(held, config, say)
        if devices > 1:
            say(
                f"training on {devices} devices: global batch {config.batch_size} "
                f"({config.batch_size // devices} per device), learning rate as set"
            )
        deadline = plan = None
        if needs_plan(config, loaded):
            config, loaded, deadline, plan = plan_training(
                config, loaded, started=started, keep=keep, say=say, formats=formats
            )
        keras.utils.set_random_seed(config.seed)
        build = build_fn(config, loaded)
        with distributed(config.devices, config.batch_size):
            model = build()
            init_output_bias(model, loaded.data.y[loaded.indices["train"]])
            history, seconds = fit(
                model,
                loaded,
                config,
                run_dir,
                verbose=verbose,
                devices=devices,
                deadline=deadline,
                progress=progress,
                most=plan.most if plan else None,
            )
        if devices > 1:  # evaluation and export see every example, on one device
            model = single_device_copy(model, build)
        test_scores = model.evaluate(loaded.test, verbose=0, return_dict=True)
        evaluation = evaluate(
            model, loaded, run_dir=run_dir, write_metrics=False, epochs_set_by=set_by(config)
        )
        result = {
            "data": config.data,
            "model": config.model,
            "epochs_run": epochs_logged(run_dir),
            "epochs_this_session": len(history["loss"]),
            "resumed_from": held.resumed_from,
            "train_seconds": round(seconds, 2),
            **evaluation.as_metrics(),
            "num_examples": loaded.info.num_examples,
        }
        result["test"] = {**{k: float(v) for k, v in test_scores.items()}, **evaluation.test}
        # the record first: an export cut short leaves it whole (zoo export RUN redoes it)
        update_metrics(run_dir / "metrics.json", result)
        result["export"] = export_and_verify(model, loaded, run_dir, formats=formats)
        update_metrics(run_dir / "metrics.json", {"export": result["export"]})
    result["run_dir"] = str(run_dir)
    return result
