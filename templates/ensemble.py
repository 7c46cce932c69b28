"""Ensembles, the recipe's last squeeze: copy this file, edit the config block, run it.
As is, it trains zoo's `convnet` on the bundled digits five times (seeds 1-5, the same
split) and averages the members' probabilities into one model:

    python templates/ensemble.py
    python templates/ensemble.py --data breast_cancer --model mlp --members 7
    python templates/ensemble.py --from-search runs/tune-convnet-digits --members 3

Each member trains as the image template's model does (output bias from the class
prior, the standard callbacks). With --from-search the members are the top trials of a
`zoo tune` search instead, each retrained on the training split with its own
hyperparameters. The ensemble is one keras.Model (zoo.ensemble): it is evaluated on
test like any model (evaluation.md), saved (ensemble.keras) and exported as a single
SavedModel taking raw inputs (verified in a fresh TensorFlow process). members.md and
members.png put every member's test score beside the ensemble's.
"""

import zoo  # noqa: F401  (first: it turns on TensorFlow's faster CPU kernels, zoo.backend)

# isort: split
import argparse
import csv
import time
from dataclasses import replace
from pathlib import Path

import keras
import numpy as np

from zoo.config import TrainConfig
from zoo.ensemble import ensemble
from zoo.evaluation import evaluate
from zoo.export import export_and_verify
from zoo.outputs import init_output_bias
from zoo.packaged import save_packaged
from zoo.plots import compare_scores
from zoo.run import load_for, record
from zoo.runfolder import (
    METRICS,
    new_run_dir,
    read_json,
    save_model,
    update_metrics,
    write_config,
    write_text,
)
from zoo.train import build_fn, fit

# ---- config: edit here (or pass --flags) -----------------------------------------------
CONFIG = TrainConfig(
    data="digits",  # bundled name, tfds:NAME, a folder of class folders, or a CSV
    model="convnet",  # any name from `zoo models`
    epochs=100,  # an upper bound: early stopping on validation loss ends sooner
    learning_rate=3e-4,
    seed=42,  # fixes the split; member i trains with seed i + 1
)
MEMBERS = 5
COMBINE = "probabilities"  # or "logits" (their mean: a renormalized geometric mean)


def parse():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default=CONFIG.data)
    p.add_argument("--model", default=CONFIG.model)
    p.add_argument("--epochs", type=int, default=CONFIG.epochs)
    p.add_argument("--members", type=int, default=MEMBERS)
    p.add_argument("--combine", default=COMBINE, choices=["probabilities", "logits"])
    p.add_argument("--from-search", default=None, help="a zoo tune folder: its top trials")
    p.add_argument("--seed", type=int, default=CONFIG.seed)
    p.add_argument("--run-dir", default=None)
    a = p.parse_args()
    if a.members < 2:
        p.error(f"--members {a.members}: an ensemble needs at least 2.")
    config = replace(CONFIG, data=a.data, model=a.model, epochs=a.epochs, seed=a.seed)
    return config, a


def train_member(config, data, seed, run):
    """One member, trained as the templates train a model; its own seed."""
    member_config = replace(config, seed=seed)
    keras.utils.set_random_seed(seed)
    model = build_fn(member_config, data)()
    init_output_bias(model, data.data.y[data.indices["train"]], data.info.task)
    history, seconds = fit(model, data, member_config, run, verbose=0)
    return model, len(history["loss"]), seconds


def search_members(folder, count, data, run):
    """The top ``count`` trials of a ``zoo tune`` search, each retrained on the
    training split (validation kept for early stopping) with its hyperparameters."""
    from tuning.hypermodels import ZooHyperModel
    from tuning.search import hyperparameters_of
    from tuning.spaces import family_of

    folder = Path(folder)
    settings = read_json(folder / "space.json")
    with (folder / "results.csv").open() as f:
        rows = [r for r in csv.DictReader(f) if r["score"]]
    reverse = settings["objective"].removeprefix("val_") == "accuracy"
    rows.sort(key=lambda r: float(r["score"]), reverse=reverse)
    if len(rows) < count:
        raise SystemExit(f"--from-search {folder}: {len(rows)} finished trials, asked for {count}.")
    x, y = data.arrays("train")
    space = {k: tuple(v) for k, v in settings["space"].items()}
    hypermodel = ZooHyperModel(
        family_of(settings["model"]), input_shape=data.info.input_shape, y_train=y,
        num_classes=data.info.num_classes, task=data.info.task, space=space,
        model=settings["model"],
    )  # fmt: skip
    stop = keras.callbacks.EarlyStopping(patience=10, restore_best_weights=True)
    for i, row in enumerate(rows[:count]):
        keras.utils.set_random_seed(i + 1)
        hp = hyperparameters_of(hypermodel, row)
        model = hypermodel.build(hp)
        history = hypermodel.fit(
            hp, model, x, y, validation_data=data.arrays("val"), epochs=settings["epochs"],
            callbacks=[stop], verbose=0,
        )  # fmt: skip
        save_model(model, run / f"member{i}.keras")
        yield model, len(history.history["loss"]), f"trial {row['trial_id']}"


def main() -> None:
    config, a = parse()
    started = time.perf_counter()

    # 1. One split for every member (the config's seed), so that they are comparable
    # and the ensemble's test split is unseen by all of them.
    keras.utils.set_random_seed(config.seed)
    config, data = load_for(config)
    run = Path(a.run_dir) if a.run_dir else new_run_dir(f"ensemble-{config.model}")
    run.mkdir(parents=True, exist_ok=True)
    write_config(run, config)
    task = data.info.task
    metric = "accuracy" if task == "classification" else "r2"

    # 2. Train the members (or take a search's best trials), each scored on test.
    models, rows = [], []
    if a.from_search:
        trained = search_members(a.from_search, a.members, data, run)
    else:
        trained = (
            (*train_member(config, data, seed, run / f"member{seed - 1}")[:2], f"seed {seed}")
            for seed in range(1, a.members + 1)
        )
    for i, (model, epochs, origin) in enumerate(trained):
        score = evaluate(model, data, write_metrics=False).test
        models.append(model)
        loss = score.get("log_loss", score.get("mse"))
        rows.append({"member": f"member{i}", "origin": origin, "epochs": epochs,
                     metric: score[metric], "loss": loss})  # fmt: skip
        print(f"member {i} ({origin}, {epochs} epochs): test {metric} {score[metric]:.4f}")

    train_seconds = time.perf_counter() - started

    # 3. One model out of them, evaluated on test like any other.
    model = ensemble(models, combine=a.combine, task=task)
    evaluation = evaluate(model, data, run_dir=run, write_metrics=False)
    for line in evaluation.lines():
        print(line)
    best = evaluation.test[metric]
    mean_member = float(np.mean([r[metric] for r in rows]))
    gain = best - mean_member
    loss = evaluation.test.get("log_loss", evaluation.test.get("mse"))
    rows.append({"member": "ensemble", "origin": a.combine, "epochs": "",
                 metric: best, "loss": loss})  # fmt: skip
    lines = [
        f"| model | from | epochs | test {metric} | test log loss (MSE) |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['member']} | {r['origin']} | {r['epochs']} | {r[metric]:.4f} | {r['loss']:.4f} |"
        for r in rows
    ]
    write_text(run / "members.md", "\n".join(lines) + "\n")
    compare_scores({r["member"]: r[metric] for r in rows}, run / "members.png",
                   metric=f"test {metric}", title="members and their ensemble")  # fmt: skip
    print("\n".join(lines))
    print(f"ensemble {metric} {best:.4f}: {gain:+.4f} over the average member ({mean_member:.4f})")

    # 4. Save and export it as one model (raw inputs in, verified in a fresh process).
    save_packaged(model, run / "model.keras", data.preprocess, data.info)  # raw inputs in
    epochs = sum(r["epochs"] for r in rows[:-1])  # the ensemble's: all its members'
    record(run, config, evaluation, epochs_this_session=epochs, epochs_run=epochs,
           train_seconds=train_seconds, num_examples=data.info.num_examples, started=started,
           members=rows[:-1], mean_member=mean_member, ensemble_gain=gain,
           combine=a.combine)  # fmt: skip
    update_metrics(run / METRICS, {"export": export_and_verify(model, data, run)})
    print(f"run folder {run}")


if __name__ == "__main__":
    main()
