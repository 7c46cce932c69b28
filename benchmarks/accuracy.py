"""Accuracy of the templates' defaults on the bundled real data, over several seeds.

Each task takes its template's ``CONFIG`` block as it is (model, epochs, learning rate,
batch size, ...) and trains it the way the template does (output bias from the
training labels, the standard callbacks: early stopping on validation loss with the
best weights restored; where the template has ``CROSS_FIT``, the model scored is the
average of that many models trained on every row, ``zoo.train.cross_fit``), changing
only the seed and, for the tabular tasks, the split:

- digits: test accuracy on the template's stratified test split, one run per seed
  (target >= 99.4%);
- breast_cancer: 5-fold cross-validated accuracy, the mean over the folds per seed
  (target >= 98.0%);
- diabetes: 5-fold cross-validated R^2 (target >= 0.49);
- fashion_folder (``--tasks fashion_folder``, not in the default list: 12 minutes):
  ``zoo recipe`` on Fashion-MNIST as 60,000 PNG files with ``--time-budget 10m``
  (``benchmarks/image_folder.py``), scored on the official 10,000 test images through
  the exported model (target >= 93%), with the time to 90%, 92% and 93%.

A scikit-learn reference runs on the very same splits (an RBF SVM for digits,
logistic regression for breast_cancer, linear regression for diabetes), so the
comparison is like for like. Figures are mean +- std over the seeds with the wall time
per training run on this machine. Prints a Markdown table, writes JSON; asserts nothing.

    python benchmarks/accuracy.py [--tasks digits,breast_cancer,diabetes] [--seeds 5]

``--set KEY=VALUE`` (repeatable) measures a change to the templates' ``CONFIG`` on the
same splits, e.g. ``--set augment=translate`` or ``--set 'model_kwargs={"hidden": []}'``
(values are JSON where they parse as JSON; ``--set cross_fit=0`` scores the one
model the template trains first instead of the average it ships); its rows are stored
beside the defaults' rows, named by the change, and running again replaces only the
rows it measures.

``--classical`` trains no network: it runs a panel of classical models on the same
splits (SVMs, regularized linear models, a Gaussian process), which shows how much
headroom a target leaves on this data.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import sys
import tempfile
import time
import warnings
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from common import command_line, merge_rows, write_json  # noqa: E402  (benchmarks/common.py)

TASKS = {
    "digits": {
        "template": "image_classification",
        "metric": "accuracy",
        "folds": None,
        "target": 0.994,
        "reference": "RBF SVM",
    },
    "breast_cancer": {
        "template": "tabular_classification",
        "metric": "accuracy",
        "folds": 5,
        "target": 0.980,
        "reference": "logistic regression",
    },
    "diabetes": {
        "template": "tabular_regression",
        "metric": "r2",
        "folds": 5,
        "target": 0.49,
        "reference": "linear regression",
    },
}


def template_module(name: str):
    """``templates/<name>.py`` as a module, its ``main`` not run."""
    spec = importlib.util.spec_from_file_location(f"_t_{name}", ROOT / "templates" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def template_config(name: str):
    """The ``CONFIG`` block of ``templates/<name>.py``, read without running it."""
    return template_module(name).CONFIG


def template_cross_fit(name: str) -> int:
    """The template's ``CROSS_FIT`` (the models averaged into the one it ships; 0: the
    one model trained on the training split), 0 where it has none."""
    return getattr(template_module(name), "CROSS_FIT", 0)


def train_once(config, name: str, folds: int = 0) -> tuple[float, float, float]:
    """Train the model the templates ship from ``config``: with ``folds``, the average
    of ``folds`` models trained on every row (``zoo.train.cross_fit``), else the one
    model; returns (score, reference score, seconds)."""
    import keras
    from sklearn import metrics

    from zoo.outputs import init_output_bias
    from zoo.run import load_for
    from zoo.train import build_fn, cross_fit, fit

    keras.backend.clear_session()  # 25+ runs in one process: each starts clean, as fast
    config, loaded = load_for(config)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as run:
        if folds:  # the shipped model alone (the template's single run only diagnoses)
            model, _ = cross_fit(config, loaded, Path(run) / "members", folds=folds)
        else:
            keras.utils.set_random_seed(config.seed)
            model = build_fn(config, loaded)()
            init_output_bias(model, loaded.data.y[loaded.indices["train"]])
            fit(model, loaded, config, Path(run), verbose=0)
    seconds = time.perf_counter() - start
    x, y = loaded.arrays("test")
    out = model.predict(x, verbose=0)
    if loaded.info.task == "classification":
        pred = out.argmax(1) if out.shape[-1] > 1 else (out[:, 0] > 0).astype(int)
        score = metrics.accuracy_score(y, pred)
    else:
        score = metrics.r2_score(y, out[:, 0])
    return float(score), reference(loaded, name), seconds


def reference(loaded, name: str) -> float:
    """The task's reference (``TASKS[name]["reference"]``): the first model of its
    classical panel, on the same splits."""
    return classical_score(next(iter(classical_models(name).values())), loaded)


def classical_score(model, loaded) -> float:
    """``model`` fit on the training rows (train + validation: it needs no early
    stopping), scored on the test rows; raw features, as the loader read them."""
    import numpy as np
    from sklearn.metrics import accuracy_score, r2_score

    rows = np.concatenate([loaded.indices["train"], loaded.indices["val"]])
    x, y = loaded.data.x.reshape(len(loaded.data.x), -1), loaded.data.y
    test = loaded.indices["test"]
    pred = model.fit(x[rows], y[rows]).predict(x[test])
    score = accuracy_score if loaded.info.task == "classification" else r2_score
    return float(score(y[test], pred))


def classical_models(name: str) -> dict:
    """The classical panel for a task: name -> a fresh scikit-learn estimator."""
    import numpy as np
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import RBF, ConstantKernel, DotProduct, WhiteKernel
    from sklearn.linear_model import LassoCV, LinearRegression, LogisticRegression, RidgeCV
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import PolynomialFeatures, StandardScaler
    from sklearn.svm import SVC

    def scaled(model):
        return make_pipeline(StandardScaler(), model)

    if name == "digits":
        return {
            "RBF SVM (gamma 0.001, C 10)": SVC(kernel="rbf", gamma=0.001, C=10),
            "RBF SVM (defaults)": SVC(),
            "3-nearest neighbours": KNeighborsClassifier(3),
            "logistic regression": scaled(LogisticRegression(max_iter=5000)),
        }
    if name == "breast_cancer":
        return {
            "logistic regression (C 1)": scaled(LogisticRegression(max_iter=5000)),
            "logistic regression (C 0.3)": scaled(LogisticRegression(C=0.3, max_iter=5000)),
            "RBF SVM": scaled(SVC()),
            "linear SVM (C 0.1)": scaled(SVC(kernel="linear", C=0.1)),
        }
    kernel = ConstantKernel() * DotProduct() + ConstantKernel() * RBF(5.0) + WhiteKernel()
    return {
        "linear regression": LinearRegression(),
        "ridge (alpha by CV)": scaled(RidgeCV(alphas=np.logspace(-3, 3, 30))),
        "lasso (alpha by CV)": scaled(LassoCV(max_iter=50_000)),
        "lasso on degree-2 features": make_pipeline(
            StandardScaler(), PolynomialFeatures(2), StandardScaler(), LassoCV(max_iter=50_000)
        ),
        "Gaussian process (linear + RBF)": scaled(
            GaussianProcessRegressor(kernel, normalize_y=True, random_state=0)
        ),
    }


def run_classical(name: str, seeds: list[int]) -> list[dict]:
    """Each classical model of the panel on the benchmark's splits (train + validation
    rows to fit, the same test rows), as mean +- std over the seeds."""
    import numpy as np

    from zoo.run import load_for

    task = TASKS[name]
    base = template_config(task["template"])
    scores: dict[str, list[float]] = {}
    for seed in seeds:
        per_fold: dict[str, list[float]] = {}
        for k in range(task["folds"] or 1):
            _, loaded = load_for(
                replace(base, seed=seed, fold=(k, task["folds"]) if task["folds"] else None)
            )
            for label, model in classical_models(name).items():
                per_fold.setdefault(label, []).append(classical_score(model, loaded))
        for label, values in per_fold.items():
            scores.setdefault(label, []).append(float(np.mean(values)))
    return [
        {
            "task": name,
            "model": label,
            "seeds": seeds,
            "mean": float(np.mean(values)),
            "std": float(np.std(values)),
            "target": task["target"],
        }
        for label, values in scores.items()
    ]


def classical_table(rows: list[dict]) -> str:
    lines = [
        "| data | classical model, same splits | mean ± std | target | above target |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['task']} | {r['model']} | {r['mean']:.4f} ± {r['std']:.4f} | {r['target']} "
            f"| {'yes' if r['mean'] >= r['target'] else 'no'} |"
        )
    return "\n".join(lines)


#: The ``--set`` key that is a template's ``CROSS_FIT``, not a ``TrainConfig`` field.
CROSS_FIT = "cross_fit"


def parse_overrides(items: list[str]) -> dict:
    """``["augment=translate", 'model_kwargs={"hidden": []}']`` -> a dict of
    ``TrainConfig`` fields; unknown fields and malformed items are refused by name."""
    from zoo.train import TrainConfig

    fields = TrainConfig.__dataclass_fields__
    out = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        own = ("data", "seed", "fold")
        if not sep or key in own or (key not in fields and key != CROSS_FIT):
            settable = ", ".join(f for f in [*fields, CROSS_FIT] if f not in own)
            raise ValueError(
                f"--set {item!r}: expected KEY=VALUE with KEY one of {settable} "
                "(data, seed and fold are the benchmark's own)."
            )
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = text
        if key == "image_size" and isinstance(value, list):
            value = tuple(value)
        out[key] = value
    return out


def describe(overrides: dict) -> str:
    """How a row's configuration reads in the table."""
    if list(overrides) == ["time_budget"]:
        return f"`zoo recipe FOLDER --time-budget {overrides['time_budget']}`"
    if not overrides:
        return "template defaults"
    return "defaults + " + ", ".join(f"{k}={json.dumps(v)}" for k, v in sorted(overrides.items()))


def run_task(name: str, seeds: list[int], say=print, overrides: dict | None = None) -> dict:
    import numpy as np

    task = TASKS[name]
    overrides = dict(overrides or {})
    fields = {k: v for k, v in overrides.items() if k != CROSS_FIT}
    base = replace(template_config(task["template"]), **fields)
    folds = overrides.get(CROSS_FIT, template_cross_fit(task["template"]))
    scores, refs, times = [], [], []
    for seed in seeds:
        folds = task["folds"]
        fold_scores, fold_refs = [], []
        for k in range(folds or 1):
            config = replace(base, seed=seed, fold=(k, folds) if folds else None)
            score, ref, seconds = train_once(config, name, folds)
            fold_scores.append(score)
            fold_refs.append(ref)
            times.append(seconds)
        scores.append(float(np.mean(fold_scores)))
        refs.append(float(np.mean(fold_refs)))
        say(
            f"  {name} seed {seed}: {task['metric']} {scores[-1]:.4f} "
            f"({task['reference']} {refs[-1]:.4f}; {sum(times[-(folds or 1) :]):.0f}s)"
        )
    return {
        "task": name,
        "template": task["template"],
        "model": base.model if not folds else f"{base.model} x{folds} (cross_fit)",
        "overrides": overrides,
        "metric": task["metric"] + (f" ({task['folds']}-fold)" if task["folds"] else " (test)"),
        "seeds": seeds,
        "scores": scores,
        "mean": float(np.mean(scores)),
        "std": float(np.std(scores)),
        "reference": task["reference"],
        "reference_mean": float(np.mean(refs)),
        "target": task["target"],
        "met": bool(np.mean(scores) >= task["target"]),
        "seconds_per_run": float(np.mean(times)),
        "runs": len(times),
    }


#: A task that is a whole command on a real image folder, not a template's training.
FOLDER_TASK = "fashion_folder"


def run_folder_task(budget: str = "10m") -> dict:
    """``zoo recipe`` on Fashion-MNIST written out as 60,000 PNGs, with a time budget
    (``benchmarks/image_folder.py``), as an accuracy row: the exported model on the
    official 10,000 test images, and the time to 90%, 92% and 93%."""
    import image_folder

    r = image_folder.run(budget, Path("/tmp/fashion-mnist"), Path("/tmp/fashion-mnist-run"))
    image_folder.save(r)  # the full record too: benchmarks/results/image_folder.json
    accuracy = r["official_test"]["accuracy"]
    model = next((c.split(" ")[1] for c in r["chosen"] if c.startswith("model ")), "convnet")
    return {
        "task": FOLDER_TASK,
        "template": None,
        "model": model,
        "overrides": {"time_budget": budget},
        "metric": "accuracy (official test, exported model)",
        "seeds": [42],
        "scores": [accuracy],
        "mean": accuracy,
        "std": 0.0,
        "reference": "two conv layers + pooling, published",
        "reference_mean": 0.916,
        "target": 0.93,
        "met": accuracy >= 0.93,
        "seconds_per_run": r["wall_seconds"],
        "runs": 1,
        "time_to": r["time_to"],
        "chosen": r["chosen"],
    }


def time_to_table(rows: list[dict]) -> str:
    """Time to each accuracy (validation split, run clock) of the rows that have it."""
    timed = [r for r in rows if r.get("time_to")]
    if not timed:
        return ""
    marks = list(timed[0]["time_to"])
    lines = [
        "| data | settings chosen from the data | "
        + " | ".join(f"time to {float(m):.0%}" for m in marks)
        + " |",
        "|---|---|" + "---|" * len(marks),
    ]
    for r in timed:
        cells = [f"{r['time_to'][m]:.0f}s" if r["time_to"][m] is not None else "not reached"
                 for m in marks]  # fmt: skip
        lines.append(f"| {r['task']} | {'; '.join(r.get('chosen', []))} | {' | '.join(cells)} |")
    return "\n".join(lines)


def table(rows: list[dict]) -> str:
    lines = [
        "| data | model | configuration | metric | zoo, mean ± std | reference, same splits "
        "| target | met | s per training run |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        spread = f"± {r['std']:.4f}" if len(r["scores"]) > 1 else "(one run)"
        lines.append(
            f"| {r['task']} | {r['model']} | {describe(r.get('overrides', {}))} | {r['metric']} "
            f"| {r['mean']:.4f} {spread} "
            f"| {r['reference']} {r['reference_mean']:.4f} | {r['target']} "
            f"| {'yes' if r['met'] else 'no'} | {r['seconds_per_run']:.1f} |"
        )
    timed = time_to_table(rows)
    return "\n".join(lines) + (f"\n\n{timed}" if timed else "")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--tasks", default=",".join(TASKS))
    p.add_argument("--seeds", type=int, default=5, help="seeds 1..N")
    p.add_argument("--out", default="benchmarks/results/accuracy.json")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="change a field of the templates' CONFIG (repeatable), e.g. augment=translate",
    )
    p.add_argument(
        "--classical", action="store_true", help="only the classical models, on the same splits"
    )
    args = p.parse_args()
    try:
        overrides = parse_overrides(args.set)
    except ValueError as e:
        p.error(str(e))
    warnings.simplefilter("ignore")
    import keras
    import tensorflow as tf

    seeds = list(range(1, args.seeds + 1))
    header = (
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
        f"TensorFlow {tf.__version__}, Keras {keras.__version__}; seeds {seeds}"
    )
    print(header, flush=True)
    names = args.tasks.split(",")
    for name in names:
        if name not in TASKS and name != FOLDER_TASK:
            raise SystemExit(
                f"--tasks: {name!r} unknown; choose from {', '.join(TASKS)}, {FOLDER_TASK}."
            )
    out = Path(args.out)
    stored = json.loads(out.read_text()) if out.exists() else {}
    if args.classical:
        rows = [row for name in names for row in run_classical(name, seeds)]
        print(classical_table(rows))
        kept = [r for r in stored.get("classical", []) if r["task"] not in names]
        stored["classical"] = sorted(kept + rows, key=lambda r: list(TASKS).index(r["task"]))
        print(f"\nwritten: {write_json(out, stored)}")
        return
    rows = []
    for name in names:
        if name == FOLDER_TASK:  # one run of a whole command, not the template's seeds
            rows.append(run_folder_task(overrides.get("time_budget", "10m")))
            continue
        rows.append(run_task(name, seeds, say=lambda s: print(s, flush=True), overrides=overrides))
    print()
    print(table(rows))
    old = stored.get("results", [])
    for row in old + rows:  # the merge key: the configuration and the seeds
        row["key"] = json.dumps([row.setdefault("overrides", {}), row["seeds"]], sort_keys=True)
    for row in rows:
        row["command"] = command_line()
    merged = merge_rows(old, rows, ("task", "key"))
    order = [*TASKS, FOLDER_TASK]
    merged.sort(key=lambda r: (order.index(r["task"]), bool(r["overrides"]), r["key"]))
    for row in merged:
        del row["key"]
    # rows come from several runs: each keeps the command that measured it
    generic = "python benchmarks/accuracy.py [--set KEY=VALUE ...] [--classical]"
    payload = {**stored, "machine": header, "command": generic, "results": merged}
    print(f"\nwritten: {write_json(out, payload)}")


if __name__ == "__main__":
    main()
