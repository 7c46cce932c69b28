"""Distillation: a small student learns from a large teacher (here an ensemble, too
costly to serve) and is exported alone. Copy this file, edit the config block, run it.
As is, on the bundled digits: the teacher is an ensemble of three `convnet`s, the
student a `convnet` at a quarter of the width (about 1/16 of the weights):

    python templates/distillation.py
    python templates/distillation.py --teacher runs/ensemble-convnet-<time>/model.keras

It reports three models on the same test split: the teacher, the student trained from
scratch on the labels (as the image template trains), and the student distilled from
the teacher (zoo.distill.Distiller: soft targets at a temperature plus the labels).
The distilled student is saved and exported as a SavedModel taking raw inputs
(verified in a fresh TensorFlow process); students.md and students.png compare them.
"""

import zoo  # first: it turns on TensorFlow's faster CPU kernels (zoo.backend)

# isort: split
import argparse
import time
from dataclasses import replace
from pathlib import Path

import keras

from zoo.config import TrainConfig
from zoo.distill import Distiller
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
    update_metrics,
    write_config,
    write_text,
)
from zoo.train import build_fn, fit

# ---- config: edit here (or pass --flags) -----------------------------------------------
CONFIG = TrainConfig(data="digits", model="convnet", epochs=100, learning_rate=3e-4, seed=42)
TEACHER_MEMBERS = 3  # the teacher: an ensemble of this many CONFIG models (seeds 1..N)
STUDENT = {"width_multiplier": 0.25}  # the student: CONFIG.model with these arguments
TEMPERATURE = 4.0  # softens the teacher's probabilities; 1 is no softening
ALPHA = 0.1  # weight of the hard-label loss; 1 - ALPHA goes to matching the teacher


def parse():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default=CONFIG.data)
    p.add_argument("--model", default=CONFIG.model)
    p.add_argument("--epochs", type=int, default=CONFIG.epochs)
    p.add_argument("--teacher", default=None, help="a saved teacher (.keras) instead of training")
    p.add_argument("--members", type=int, default=TEACHER_MEMBERS)
    p.add_argument("--temperature", type=float, default=TEMPERATURE)
    p.add_argument("--alpha", type=float, default=ALPHA)
    p.add_argument("--seed", type=int, default=CONFIG.seed)
    p.add_argument("--run-dir", default=None)
    a = p.parse_args()
    config = replace(CONFIG, data=a.data, model=a.model, epochs=a.epochs, seed=a.seed)
    return config, a


def train(config, data, run, seed, **model_kwargs):
    """A model trained as the templates train one (output bias, standard callbacks)."""
    config = replace(config, seed=seed)
    keras.utils.set_random_seed(seed)
    model = build_fn(config, data, **model_kwargs)()
    init_output_bias(model, data.data.y[data.indices["train"]], data.info.task)
    fit(model, data, config, run, verbose=0)
    return model


def main() -> None:
    config, a = parse()
    started = time.perf_counter()
    keras.utils.set_random_seed(config.seed)
    config, data = load_for(config)
    run = Path(a.run_dir) if a.run_dir else new_run_dir(f"distill-{config.model}")
    run.mkdir(parents=True, exist_ok=True)
    write_config(run, config)
    task = data.info.task
    metric = "accuracy" if task == "classification" else "r2"

    # 1. The teacher: a saved model, or an ensemble trained here.
    if a.teacher:
        teacher = zoo.load_network(a.teacher)  # a run's model.keras: the network inside
    else:
        members = [train(config, data, run / f"teacher{s}", s) for s in range(1, a.members + 1)]
        teacher = ensemble(members, task=task) if len(members) > 1 else members[0]
        save_packaged(teacher, run / "teacher.keras", data.preprocess, data.info)

    # 2. The student from scratch, on the labels alone: what distillation must beat.
    scratch = train(config, data, run / "scratch", config.seed + 100, **STUDENT)

    # 3. The same student, distilled: soft targets from the teacher plus the labels.
    keras.utils.set_random_seed(config.seed + 100)
    student = build_fn(config, data, **STUDENT)()
    init_output_bias(student, data.data.y[data.indices["train"]], task)
    distiller = Distiller(teacher, student, temperature=a.temperature, alpha=a.alpha, task=task)
    distiller.compile(
        optimizer=keras.optimizers.Adam(config.learning_rate),
        metrics=["accuracy"] if task == "classification" else ["mae"],
    )
    stop = keras.callbacks.EarlyStopping(
        monitor="val_hard_loss", mode="min", patience=config.patience, restore_best_weights=True
    )
    history = distiller.fit(
        data.train, validation_data=data.val, epochs=config.epochs, callbacks=[stop], verbose=2
    )

    train_seconds = time.perf_counter() - started

    # 4. All three on the same test split.
    rows = []
    for label, model in (("teacher", teacher), ("student, scratch", scratch),
                         ("student, distilled", student)):  # fmt: skip
        test = evaluate(model, data, write_metrics=False).test
        rows.append({"model": label, "params": model.count_params(), metric: test[metric]})
    evaluation = evaluate(student, data, run_dir=run, write_metrics=False)
    lines = [f"| model | parameters | test {metric} |", "|---|---|---|"]
    lines += [f"| {r['model']} | {r['params']:,} | {r[metric]:.4f} |" for r in rows]
    write_text(run / "students.md", "\n".join(lines) + "\n")
    compare_scores({r["model"]: r[metric] for r in rows}, run / "students.png",
                   metric=f"test {metric}", title="teacher and students")  # fmt: skip
    print("\n".join(lines))
    gain = rows[2][metric] - rows[1][metric]
    print(f"distillation: {gain:+.4f} {metric} over the student trained from scratch")

    # 5. The distilled student alone is what ships.
    save_packaged(student, run / "model.keras", data.preprocess, data.info)  # raw inputs in
    epochs = len(history.history["loss"])  # the distilled student's: the model shipped
    record(run, config, evaluation, epochs_this_session=epochs, epochs_run=epochs,
           train_seconds=train_seconds, num_examples=data.info.num_examples, started=started,
           models=rows, distillation_gain=gain, temperature=a.temperature,
           alpha=a.alpha)  # fmt: skip
    update_metrics(run / METRICS, {"export": export_and_verify(student, data, run)})
    print(f"run folder {run}")


if __name__ == "__main__":
    main()
