"""What the search costs and what it buys, measured on digits.

Parts (``--parts``, all by default):

- ``overhead``: one in-process search (``trials`` mlp trials of a fixed number of
  epochs, early stopping off so both sides do the same work) against the very same
  hyperparameters trained by plain ``build`` + ``fit`` calls in a loop, run before and
  after the search; the ratio is search wall time over the mean plain wall time
  (target <= 1.10). The same search gives the memory figures: resident memory after
  each trial, trial 20 against trial 3 (target within 20%).
- ``workers``: the same convnet search with ``--workers 1`` and ``--workers 2``
  (wall time from start to the last trial, worker start-up included) and in this
  process; trials per hour and the 2-against-1 ratio (target >= 1.7).
- ``default``: 20 random convnet trials against the untuned default (the image
  template's CONFIG, trained as the template does) on the validation split: data loss
  and accuracy, and the retrained best against the default on test. Each trial gets
  the default's budget (100 epochs, early stopping with patience 10); two workers.
- ``grid``: random against grid search with the same budget (9 trials) over learning
  rate x dropout for the mlp: the best validation loss each finds, and how many
  distinct learning rates each tried (the notes' argument for random search).

Prints Markdown tables, writes JSON; asserts nothing.

    python benchmarks/tuning.py [--parts overhead,workers,default,grid]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PARTS = ("overhead", "workers", "default", "grid")
FIXED_MLP = ["batch_size=32", "optimizer=adam"]


def quiet(_line: str) -> None:
    pass


def part_overhead(trials: int, epochs: int, say) -> dict:
    import keras
    import keras_tuner

    from tuning.search import random_search

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "search"
        # Warm-up: TensorFlow's first graph builds are not what we measure.
        random_search("digits", "mlp", trials=1, epochs=1, directory=Path(tmp) / "warm",
                      space=FIXED_MLP, retrain=False, say=quiet)  # fmt: skip
        result_holder = {}

        def plain(rows) -> float:
            from tuning.hypermodels import ZooHyperModel
            from zoo.run import load_for
            from zoo.train import TrainConfig

            _, loaded = load_for(TrainConfig(data="digits", model="mlp", seed=42))
            x, y = loaded.arrays("train")
            xv, yv = loaded.arrays("val")
            info = loaded.info
            start = time.perf_counter()
            for row in rows:
                keras.backend.clear_session()
                hm = ZooHyperModel("mlp", input_shape=info.input_shape,
                                   num_classes=info.num_classes, y_train=y)  # fmt: skip
                hp = keras_tuner.HyperParameters()
                hm.build(hp)  # declares the space
                hp.values.update({k: row[k] for k in hp.values})
                model = hm.build(hp)
                hm.fit(hp, model, x, y, validation_data=(xv, yv), epochs=epochs, verbose=0)
            return time.perf_counter() - start

        say(f"overhead: {trials} mlp trials of {epochs} epochs, plain fit / search / plain fit")
        start = time.perf_counter()
        result = random_search("digits", "mlp", trials=trials, epochs=epochs, directory=folder,
                               patience=epochs + 1, space=FIXED_MLP, retrain=False,
                               say=quiet)  # fmt: skip
        searched = time.perf_counter() - start
        rows = [r for r in result.rows if r["status"] == "COMPLETED"]
        before = plain(rows)
        start = time.perf_counter()
        again = random_search("digits", "mlp", trials=trials, epochs=epochs,
                              directory=Path(tmp) / "again", patience=epochs + 1,
                              space=FIXED_MLP, retrain=False, say=quiet)  # fmt: skip
        searched_again = time.perf_counter() - start
        after = plain(rows)
        result_holder["rss"] = [r["rss_mb"] for r in again.rows]
    plain_s = (before + after) / 2
    search_s = (searched + searched_again) / 2
    rss = result_holder["rss"]
    out = {
        "trials": len(rows),
        "epochs": epochs,
        "search_seconds": [round(searched, 2), round(searched_again, 2)],
        "plain_seconds": [round(before, 2), round(after, 2)],
        "overhead_ratio": round(search_s / plain_s, 3),
        "rss_mb": rss,
        "rss_trial3_mb": rss[2] if len(rss) > 2 else None,
        "rss_trial20_mb": rss[19] if len(rss) > 19 else None,
    }
    if out["rss_trial20_mb"]:
        out["rss_growth"] = round(out["rss_trial20_mb"] / out["rss_trial3_mb"] - 1, 3)
    say(f"  search {search_s:.1f}s, plain fit {plain_s:.1f}s: ratio {out['overhead_ratio']}")
    say(f"  resident memory per trial (MiB): {rss}")
    return out


def part_workers(trials: int, epochs: int, say) -> dict:
    """Each configuration in its own ``zoo tune`` process, so each pays its start-up."""
    rows = []
    space = ["batch_size=32", "depth=1", "width_multiplier=0.5,1.0", "optimizer=adam"]
    for workers in (0, 1, 2):
        with tempfile.TemporaryDirectory() as tmp:
            cmd = [sys.executable, "-m", "zoo.cli", "tune", "digits", "--model", "convnet",
                   "--trials", str(trials), "--epochs", str(epochs), "--dir", tmp,
                   "--workers", str(workers)]  # fmt: skip
            for s in space:
                cmd += ["--space", s]
            start = time.perf_counter()
            done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT,
                                  env={**os.environ, "PYTHONPATH": str(ROOT)})  # fmt: skip
            # Up to the search's end: the retraining of the best is not the search.
            lines = done.stdout.splitlines()
            total = time.perf_counter() - start
            if done.returncode:
                raise SystemExit(f"zoo tune --workers {workers} failed:\n{done.stderr[-3000:]}")
            import csv

            with open(Path(tmp) / "results.csv") as f:
                table = list(csv.DictReader(f))
            trial_s = sum(float(r["seconds"]) for r in table)
            records = [json.loads(p.read_text()) for p in Path(tmp).glob("search/trial_*/zoo.json")]
            first = min(r["began"] for r in records)
            end = max(r["ended"] for r in records)
            rows.append(
                {
                    "workers": workers,
                    "trials": len(table),
                    "command_seconds": round(total, 1),
                    "trial_seconds_sum": round(trial_s, 1),
                    "first_to_last_trial_seconds": round(end - first, 1),
                    "trials_per_hour": round(len(table) / (end - first) * 3600, 1),
                    "trials_per_hour_with_startup": round(len(table) / total * 3600, 1),
                    "lines": len(lines),
                }
            )
            say(f"  workers={workers}: {len(table)} trials, {total:.1f}s for the command, "
                f"{rows[-1]['trials_per_hour']} trials/h")  # fmt: skip
    one, two = rows[1], rows[2]
    return {
        "epochs": epochs,
        "rows": rows,
        "ratio_2_vs_1": round(two["trials_per_hour"] / one["trials_per_hour"], 3),
        "ratio_2_vs_1_with_startup": round(
            two["trials_per_hour_with_startup"] / one["trials_per_hour_with_startup"], 3
        ),
    }


def part_default(trials: int, epochs: int, say) -> dict:
    import keras
    import numpy as np
    from accuracy import template_config  # benchmarks/accuracy.py, beside this file

    from tuning.search import random_search
    from zoo.outputs import init_output_bias
    from zoo.run import load_for
    from zoo.train import build_fn, fit

    config, loaded = load_for(template_config("image_classification"))
    keras.utils.set_random_seed(config.seed)
    model = build_fn(config, loaded)()
    init_output_bias(model, loaded.data.y[loaded.indices["train"]])
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as run:
        history, _ = fit(model, loaded, config, Path(run), verbose=0)
    default_s = time.perf_counter() - start

    def scores(model, split):
        x, y = loaded.arrays(split)
        logits = model.predict(x, verbose=0)
        loss = float(
            np.mean(keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True))
        )
        return loss, float(np.mean(logits.argmax(1) == y))

    d_val, d_test = scores(model, "val"), scores(model, "test")
    say(f"  default: val loss {d_val[0]:.4f}, val acc {d_val[1]:.4f}, test acc {d_test[1]:.4f} "
        f"({len(history['loss'])} epochs, {default_s:.0f}s)")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        # Each trial gets the default's budget (epochs, patience); two workers.
        result = random_search("digits", "convnet", trials=trials, epochs=config.epochs,
                               patience=config.patience, directory=tmp, seed=config.seed,
                               export=False, workers=2, say=say)  # fmt: skip
        search_s = time.perf_counter() - start
        best = result.best
        trial = json.loads(
            (Path(tmp) / "search" / f"trial_{best['trial_id']}" / "trial.json").read_text()
        )
        hist = trial["metrics"]["metrics"]["val_accuracy"]["observations"]
        val_acc = [o["value"][0] for o in hist if o["step"] == best["best_epoch"] - 1][0]
        better = sum(r["score"] is not None and r["score"] < d_val[0] for r in result.rows)
    out = {
        "trials": trials,
        "epochs_per_trial": config.epochs,
        "patience": config.patience,
        "default": {
            "val_data_loss": d_val[0],
            "val_accuracy": d_val[1],
            "test_accuracy": d_test[1],
            "epochs": len(history["loss"]),
            "seconds": round(default_s, 1),
        },  # fmt: skip
        "best": {
            "val_data_loss": best["score"],
            "val_accuracy": val_acc,
            "test_accuracy": result.test.get("accuracy"),
            "hyperparameters": {
                k: v
                for k, v in best.items()
                if k not in ("trial_id", "status", "score", "seconds", "rss_mb", "worker")
            },
        },  # fmt: skip
        "trials_beating_default": better,
        "search_seconds": round(search_s, 1),
    }
    return out


def part_grid(say) -> dict:
    from tuning.search import random_search

    epochs = 10
    fixed = {"width": ("fixed", 128), "depth": ("fixed", 2), "optimizer": ("fixed", "adam"),
             "l1": ("fixed", 1e-7), "l2": ("fixed", 1e-7), "batch_size": ("fixed", 32)}  # fmt: skip
    spaces = {
        "grid": {**fixed, "learning_rate": ("choice", [1e-4, 1e-3, 1e-2]),
                 "dropout": ("choice", [0.0, 0.25, 0.5])},
        "random": {**fixed, "learning_rate": ("log", 1e-4, 1e-2), "dropout": ("float", 0.0, 0.5)},
    }  # fmt: skip
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in (1, 2, 3):  # the seed sets the split too: both run on each split
            row = {"seed": seed}
            for algorithm, space in spaces.items():
                result = random_search(
                    "digits", "mlp", trials=9, epochs=epochs, seed=seed, space=space,
                    directory=Path(tmp) / f"{algorithm}{seed}", algorithm=algorithm,
                    retrain=False, say=quiet,
                )  # fmt: skip
                scored = [r for r in result.rows if r["score"] is not None]
                row[algorithm] = min(r["score"] for r in scored)
                row[f"{algorithm}_learning_rates"] = len({r["learning_rate"] for r in scored})
                row[f"{algorithm}_trials"] = len(scored)
            rows.append(row)
            say(f"  seed {seed}: grid best {row['grid']:.4f}, random best {row['random']:.4f}")
    return {"epochs": epochs, "rows": rows}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--parts", default=",".join(PARTS))
    p.add_argument("--trials", type=int, default=22, help="trials for overhead and memory")
    p.add_argument("--out", default="benchmarks/results/tuning.json")
    args = p.parse_args()
    warnings.simplefilter("ignore")
    import keras
    import keras_tuner
    import tensorflow as tf

    header = (
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
        f"TensorFlow {tf.__version__}, Keras {keras.__version__}, "
        f"Keras Tuner {keras_tuner.__version__}"
    )
    print(header, flush=True)
    say = lambda line: print(line, flush=True)  # noqa: E731
    out = Path(args.out)
    results = json.loads(out.read_text()).get("results", {}) if out.exists() else {}
    for part in args.parts.split(","):
        if part not in PARTS:
            raise SystemExit(f"--parts: {part!r} unknown; choose from {', '.join(PARTS)}.")
        say(f"[{part}]")
        if part == "overhead":
            results[part] = part_overhead(args.trials, 5, say)
        elif part == "workers":
            say("workers: 12 convnet trials of 4 epochs, in-process, 1 worker, 2 workers")
            results[part] = part_workers(12, 4, say)
        elif part == "default":
            say("default: 20 convnet trials with the template's budget vs the template")
            results[part] = part_default(20, 0, say)
        elif part == "grid":
            results[part] = part_grid(say)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({"machine": header, "results": results}, indent=2) + "\n")
    print()
    print(tables(results))
    print(f"\nwritten: {out}")


def tables(results: dict) -> str:
    lines = []
    if "overhead" in results:
        o = results["overhead"]
        lines += [
            "| tuner overhead | search s | plain fit s | ratio (target <= 1.10) |",
            "|---|---|---|---|",
            f"| {o['trials']} mlp trials x {o['epochs']} epochs | "
            f"{statistics.mean(o['search_seconds']):.1f} | "
            f"{statistics.mean(o['plain_seconds']):.1f} | {o['overhead_ratio']:.3f} |",
            "",
            "| memory | after trial 3 | after trial 20 | growth (target <= 20%) |",
            "|---|---|---|---|",
            f"| resident MiB | {o['rss_trial3_mb']} | {o['rss_trial20_mb']} | "
            f"{100 * o.get('rss_growth', float('nan')):.1f}% |",
            "",
        ]
    if "workers" in results:
        w = results["workers"]
        lines += [
            "| workers | trials | first trial start to last trial end, s | trials/h "
            "| whole command s (start-up, retrain, export) |",
            "|---|---|---|---|---|",
            *(
                f"| {r['workers'] or 'none (in process)'} | {r['trials']} | "
                f"{r['first_to_last_trial_seconds']} | {r['trials_per_hour']} | "
                f"{r['command_seconds']} |"
                for r in w["rows"]
            ),
            f"\n2 workers against 1: {w['ratio_2_vs_1']}x trials/h (target >= 1.7); "
            f"{w['ratio_2_vs_1_with_startup']}x counting the whole command\n",
        ]
    if "default" in results:
        d = results["default"]
        lines += [
            "| digits convnet | val data loss | val accuracy | test accuracy |",
            "|---|---|---|---|",
            f"| untuned default (template) | {d['default']['val_data_loss']:.4f} | "
            f"{d['default']['val_accuracy']:.4f} | {d['default']['test_accuracy']:.4f} |",
            f"| best of {d['trials']} random trials | {d['best']['val_data_loss']:.4f} | "
            f"{d['best']['val_accuracy']:.4f} | {d['best']['test_accuracy']:.4f} |",
            f"\n{d['trials_beating_default']} of {d['trials']} trials beat the default's "
            f"validation loss; best: {d['best']['hyperparameters']}\n",
        ]
    if "grid" in results:
        g = results["grid"]
        lines += [
            "| split seed | grid 3 x 3: best val data loss | random, 9 trials: best "
            "| learning rates tried: grid / random |",
            "|---|---|---|---|",
            *(
                f"| {r['seed']} | {r['grid']:.4f} | {r['random']:.4f} | "
                f"{r['grid_learning_rates']} / {r['random_learning_rates']} |"
                for r in g["rows"]
            ),
        ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
