"""Compile and fit: a function making fresh compiled models (``build_fn``), a fit with
the standard callbacks into a run folder (``fit``), and training on every row
(``cross_fit``). ``zoo.run`` strings them into a run's stages (its ``load_for`` reads
the data a config names); the templates and the tuner call them directly.
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
from zoo.config import TrainConfig, resolve_steps_per_execution
from zoo.data.splits import refit_folds
from zoo.distribute import device_count, even_batches
from zoo.ensemble import ensemble
from zoo.optim import compile_model
from zoo.outputs import init_output_bias
from zoo.packaged import save_packaged
from zoo.plots import plot_history
from zoo.registry import count_params, create_model
from zoo.runfolder import write_text

__all__ = ["TrainConfig", "build_fn", "cross_fit", "fit"]


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
            weights=config.weights,
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

    def save(network, path):  # model.keras and best.keras take raw inputs
        save_packaged(network, path, loaded.preprocess, loaded.info)

    callbacks = standard(
        run_dir,
        patience=config.patience,
        schedule=config.schedule,
        extra=[*extra, budget],
        save=save,
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
    save(model, run_dir / "model.keras")
    write_text(run_dir / "model_summary.txt", summary_text(model))
    return history.history, seconds


def summary_text(model) -> str:
    """Keras' ``model.summary()`` as text, with zoo's count of trainable parameters
    (PyTorch's convention, the one ``zoo models`` lists) under it."""
    lines: list[str] = []
    model.summary(print_fn=lambda line, *args, **kwargs: lines.append(line))
    trainable = count_params(model)
    return "\n".join(lines) + f"\nTrainable parameters (zoo models' count): {trainable:,}\n"


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
