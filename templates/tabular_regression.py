"""Tabular regression, the recipe written out: copy this file, edit the config block,
run it. As is, it trains zoo's `mlp` on the bundled diabetes table (442 rows, 10
features, target mean about 152) with a mean-squared-error loss, and shows the output
bias set to the target mean, so that the loss at initialization is the target variance:

    python templates/tabular_regression.py
    python templates/tabular_regression.py --data my_table.csv --label price

Stages: fixed seed -> look at the data -> dumb baseline -> check the skeleton -> train
with the standard callbacks -> evaluate on test -> train on every row (CROSS_FIT models,
each stopped early on its own fifth of the training and validation rows, averaged) ->
the linear baseline on the same split -> export the averaged model. Everything lands in
a run folder, runs/<name>-<time>/ (the averaged model's members in members/).
"""

import zoo  # noqa: F401  (first: it turns on TensorFlow's faster CPU kernels, zoo.backend)

# isort: split
import argparse
import time
from dataclasses import replace
from pathlib import Path

import keras
import numpy as np

from zoo.callbacks import PredictionDynamics
from zoo.checks import loss_at_init, overfit_one_batch
from zoo.config import TrainConfig
from zoo.data import inspect_data, show_batch
from zoo.distribute import device_count
from zoo.evaluation import against_baseline, evaluate, linear_baseline
from zoo.export import export_and_verify
from zoo.outputs import init_output_bias
from zoo.packaged import save_packaged
from zoo.run import Run, load_for, record, train
from zoo.runfolder import METRICS, new_run_dir, update_metrics, write_config
from zoo.train import build_fn, cross_fit

# ---- config: edit here (or pass --flags) -----------------------------------------------
CONFIG = TrainConfig(
    data="diabetes",  # bundled name or a CSV file with a numeric label (see --label)
    model="mlp",  # any name from `zoo models` that takes a feature vector
    epochs=100,  # an upper bound: early stopping on validation loss ends sooner
    batch_size=32,
    learning_rate=3e-4,  # Adam at 3e-4: the recipe's safe start
    schedule="constant",  # decay only once everything else works
    label=None,  # the label column of a CSV file (default: "label")
    steps_per_execution=None,  # steps per call: None picks 8 (1 on PyTorch); 1.2-1.5x faster
    seed=42,
)
# The model shipped: 0 ships the one model trained above; N >= 2 trains N models on the
# training and validation rows, each stopped early on its own N-th of them, and ships
# their average. On diabetes (5-fold, seeds 1-5; docs/benchmarks.md) that takes the
# template's R^2 from 0.4742 +- 0.0041 to level with linear regression's 0.4799.
CROSS_FIT = 5


def parse() -> tuple[TrainConfig, int, str | None]:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default=CONFIG.data)
    p.add_argument("--model", default=CONFIG.model)
    p.add_argument("--epochs", type=int, default=CONFIG.epochs)
    p.add_argument("--lr", type=float, default=CONFIG.learning_rate)
    p.add_argument("--label", default=CONFIG.label)
    p.add_argument("--patience", type=int, default=CONFIG.patience)
    p.add_argument("--seed", type=int, default=CONFIG.seed)
    p.add_argument("--cross-fit", type=int, default=CROSS_FIT, metavar="N")
    p.add_argument("--run-dir", default=None)
    a = p.parse_args()
    if a.cross_fit == 1 or a.cross_fit < 0:
        p.error(f"--cross-fit {a.cross_fit}: 0 (ship one model) or 2 and more models.")
    # every CONFIG field reaches the run; the flags change only their own
    config = replace(
        CONFIG,
        data=a.data,
        model=a.model,
        epochs=a.epochs,
        learning_rate=a.lr,
        label=a.label,
        patience=a.patience,
        seed=a.seed,
    )
    return config, a.cross_fit, a.run_dir


def main() -> None:
    config, folds, run_dir = parse()
    started = time.perf_counter()

    # 1. Fix the seed, load, and look at the data before touching a model.
    keras.utils.set_random_seed(config.seed)
    config, data = load_for(config)
    run = Path(run_dir) if run_dir else new_run_dir(f"regression-{config.model}")
    run.mkdir(parents=True, exist_ok=True)
    write_config(run, config)
    report = inspect_data(data, run / "data")  # the rows and splits as loaded
    for finding in report.findings:
        print(finding.line())
    show_batch(data, "train", run / "batch.png")  # standardized features, as the model sees them

    # 2. The dumb baseline to beat: always predict the training mean.
    y_train = data.data.y[data.indices["train"]]
    y_test = data.data.y[data.indices["test"]]
    baseline = float(np.mean((y_test - y_train.mean()) ** 2))
    print(f"baseline (training mean) test MSE: {baseline:.1f}")

    # 3. Check the skeleton. With the output bias at zero the model starts at
    # mean(y^2), far above the target variance; set to the target mean it starts at the
    # variance, and the first epochs are not spent walking the bias to the mean.
    build = build_fn(config, data)
    model = build()
    before = loss_at_init(model, data.train)
    bias = init_output_bias(model, y_train)
    print(
        f"output bias set to the target mean: {np.round(bias, 2)}; loss at init "
        f"{before.measured:.4f} -> {loss_at_init(model, data.train).measured:.4f}"
    )
    for check in (loss_at_init(model, data.train), overfit_one_batch(build, data.train)):
        print(check.line())

    # 4. Train as `zoo train` does (zoo.run.train): a fresh model from `build`, its
    # output bias set, on CONFIG's devices, with the standard callbacks (early stopping,
    # checkpoints, resumable).
    x_val, y_val = data.arrays("val")
    dynamics = PredictionDynamics(x_val[:16], y_val[:16], path=run / "prediction_dynamics.png")
    devices = device_count(config.devices, config.batch_size)
    stages = Run(config, verbose=2, loaded=data, run_dir=run, build=build, devices=devices)
    model = train(stages, callbacks=[dynamics])
    history, seconds = stages.history, stages.train_seconds

    # 5. Evaluate once on the test split, past one number: per-class figures, confusion
    # matrix, top losses, calibration (or residuals), bias and variance (evaluation.md).
    evaluation = evaluate(model, data, run_dir=run, write_metrics=False)
    for line in evaluation.lines():
        print(line)
    # 6. Train on every row (the notes: "get more data", then "ensembles"). The
    # validation rows kept out above have done their part, the early stopping and the
    # diagnosis; now each of `folds` models trains on them too but for its own part,
    # which stops it early, and their average is the model to ship.
    final, score = model, evaluation.test["r2"]
    if folds:
        final, _ = cross_fit(config, data, run / "members", folds=folds)
        save_packaged(final, run / "members" / "ensemble.keras", data.preprocess, data.info)
        score = evaluate(final, data.arrays("test"), data.info).test["r2"]
        print(
            f"{folds} models on every training and validation row, averaged: test R^2 "
            f"{score:.4f} (the one model above: {evaluation.test['r2']:.4f})"
        )
    # 7. The linear baseline on the same split, the recipe's other dumb baseline: on a
    # table this small a network often cannot beat it, and then the run says so.
    linear = linear_baseline(data)
    print(against_baseline(linear, score, config.model, len(y_train)))
    # Export a SavedModel that takes raw features, checked in a fresh TensorFlow process.
    # metrics.json first (zoo.run.METRICS_SCHEMA), whole before the export starts;
    # "test" and "evaluation" are the one model's, "shipped" the model exported.
    shipped = {"model": final.name, "cross_fit": folds, "r2": score}
    record(run, config, evaluation, epochs_this_session=len(history["loss"]),
           train_seconds=seconds, num_examples=data.info.num_examples, started=started,
           devices=devices,
           shipped=shipped, baseline_mse=baseline, linear_baseline=linear)  # fmt: skip
    update_metrics(run / METRICS, {"export": export_and_verify(final, data, run)})
    test = evaluation.test
    print(
        f"test MSE {test['mse']:.1f} (baseline {baseline:.1f}), R^2 {test['r2']:.3f}; shipped "
        f"{final.name}, R^2 {score:.3f}; run {run}"
    )


if __name__ == "__main__":
    main()
