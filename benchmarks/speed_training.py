"""The speed benchmark's training parts (``benchmarks/speed.py --parts precision,steps,
tta``): what a whole training run gets from each setting, measured on real training.

- precision: float32 against mixed bfloat16, test accuracy and seconds per epoch after
  the same fixed budget;
- steps: the small models' training steps per second per ``steps_per_execution``;
- tta: seconds until the test accuracy first reaches a target with ``zoo recipe``'s
  defaults, and the wall time of the whole ``zoo recipe`` command.

``speed.py`` runs them and writes their tables beside the throughput parts'.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402  (benchmarks/common.py, beside this file)
    ROOT,
    epoch_timer,
    markdown_table,
    median,
    spread,
)

PRECISIONS = ("float32", "mixed_bfloat16")
#: model -> (data, epochs of the fixed budget, side to resize images to)
BUDGETS = {
    "convnet": ("digits", 20, None),
    "mlp": ("breast_cancer", 40, None),
    "cifar_resnet20": ("digits", 10, 32),
    "resnet50": ("digits", 4, 32),
}


def _arrays(data: str, side: int | None, seed: int):
    """Train and test arrays of ``data`` (the loader's stratified splits), images
    resized to ``side`` when given (ResNet-50 needs at least 32x32)."""
    import tensorflow as tf

    from zoo.run import load_for
    from zoo.train import TrainConfig

    _, loaded = load_for(TrainConfig(data=data, seed=seed))
    (xtr, ytr), (xte, yte) = loaded.arrays("train"), loaded.arrays("test")
    if side:
        xtr = tf.image.resize(xtr, (side, side)).numpy()
        xte = tf.image.resize(xte, (side, side)).numpy()
    return xtr, ytr, xte, yte, loaded.info


def part_precision(say, models, seeds=(1, 2), slow: float = 3.0) -> list[dict]:
    """Test accuracy and training seconds per epoch after the same fixed budget (the
    templates' Adam at 3e-4 with the output bias from the class prior, no early
    stopping), float32 against mixed_bfloat16, per model; the mean over ``seeds``.
    A precision whose first timed epoch is over ``slow`` times float32's stops there
    (it cannot be the pick, and on a CPU without bfloat16 units it would take hours):
    its speed is measured, its accuracy is not."""
    import keras
    import numpy as np

    from zoo import create_model
    from zoo.optim import compile_model
    from zoo.outputs import init_output_bias

    rows = []
    for name in models:
        data, epochs, side = BUDGETS[name]
        row = {"model": name, "data": data, "epochs": epochs, "side": side}
        got = {p: {"accuracies": [], "seconds": []} for p in PRECISIONS}
        for seed in seeds:
            xtr, ytr, xte, yte, info = _arrays(data, side, seed)
            for precision in PRECISIONS:
                if precision != "float32" and got[precision].get("stopped"):
                    continue
                keras.utils.set_random_seed(seed)
                model = create_model(
                    name, input_shape=xtr.shape[1:], num_classes=info.num_classes,
                    precision=precision,
                )  # fmt: skip
                compile_model(model, info.task)
                init_output_bias(model, ytr)
                timer = epoch_timer()
                model.fit(xtr, ytr, batch_size=32, epochs=2, verbose=0, callbacks=[timer])
                first = timer.times[1]  # the epoch before it traced
                if precision != "float32" and first > slow * got["float32"]["seconds"][-1]:
                    got[precision]["seconds"].append(first)
                    got[precision]["stopped"] = first / got["float32"]["seconds"][-1]
                    continue
                model.fit(xtr, ytr, batch_size=32, epochs=epochs - 2, verbose=0, callbacks=[timer])
                got[precision]["seconds"].append(median([first, *timer.times]))
                acc = model.evaluate(xte, yte, verbose=0, return_dict=True)["accuracy"]
                got[precision]["accuracies"].append(float(acc))
        for precision in PRECISIONS:
            accs = got[precision]["accuracies"]
            row[precision] = {
                "accuracy": float(np.mean(accs)) if accs else None,
                "accuracies": accs,
                "seconds_per_epoch": median(got[precision]["seconds"]),
                "stopped": got[precision].get("stopped"),
            }
        f32, b16 = row["float32"], row["mixed_bfloat16"]
        row["speedup"] = f32["seconds_per_epoch"] / b16["seconds_per_epoch"]
        row["accuracy_change"] = (
            b16["accuracy"] - f32["accuracy"] if b16["accuracy"] is not None else None
        )
        row["pick"] = (
            "mixed_bfloat16" if row["speedup"] >= 1.1 and row["accuracy_change"] is not None
            and row["accuracy_change"] >= -0.005 else "float32"
        )  # fmt: skip
        rows.append(row)
        say(
            f"precision {name}: float32 {_acc(f32)} in {f32['seconds_per_epoch']:.2f} s/epoch, "
            f"mixed_bfloat16 {_acc(b16)} in {b16['seconds_per_epoch']:.2f} s/epoch: "
            f"pick {row['pick']}"
        )
    return rows


def _acc(entry: dict) -> str:
    if entry["accuracy"] is not None:
        return f"{entry['accuracy']:.4f}"
    return f"not trained ({entry['stopped']:.1f}x slower)" if entry.get("stopped") else "—"


def precision_table(rows: list[dict]) -> str:
    body = [
        [r["model"], r["data"] + (f" at {r['side']}x{r['side']}" if r["side"] else ""),
         r["epochs"], _acc(r["float32"]), _acc(r["mixed_bfloat16"]),
         f"{r['float32']['seconds_per_epoch']:.2f}",
         f"{r['mixed_bfloat16']['seconds_per_epoch']:.2f}", f"{r['speedup']:.2f}x", r["pick"]]
        for r in rows
    ]  # fmt: skip
    return markdown_table(
        ["model", "data", "epochs", "acc float32", "acc mixed_bf16", "s/epoch float32",
         "s/epoch mixed_bf16", "bf16 speed-up", "default"],
        body,
    )  # fmt: skip


#: the templates' small models: (label, template, model)
SMALL = (
    ("digits convnet", "image_classification"),
    ("breast_cancer mlp", "tabular_classification"),
)


def part_steps(say, peak: dict | None, values=(1, 8, 32), epochs: int = 6) -> list[dict]:
    """Training steps/s of the templates' small models over their own input pipelines,
    per ``steps_per_execution``, in alternating order; the FLOP-limited step time is
    6 x MACs x batch over the float32 peak."""
    import keras
    from accuracy import template_config  # benchmarks/accuracy.py, beside this file

    from zoo import count_macs
    from zoo.run import load_for
    from zoo.train import build_fn

    rows = []
    for label, template in SMALL:
        base = template_config(template)
        config, loaded = load_for(base)
        steps = len(loaded.train)
        per = {v: [] for v in values}
        macs = None
        for r in range(2):
            for v in values if r == 0 else values[::-1]:
                keras.utils.set_random_seed(1)
                model = build_fn(replace(config, steps_per_execution=v), loaded)()
                macs = count_macs(model)
                timer = epoch_timer()
                model.fit(loaded.train, epochs=epochs, verbose=0, callbacks=[timer])
                per[v].append(steps / median(timer.times[1:]))  # the first epoch traces
        limit = 6 * macs * config.batch_size / (peak["float32"]["peak"] * 1e9) if peak else None
        for v in values:
            row = {
                "model": label,
                "batch": config.batch_size,
                "steps_per_epoch": steps,
                "steps_per_execution": v,
                "steps_per_s": median(per[v]),
                "spread": spread(per[v]),
                "flop_limited_ms": 1000 * limit if limit else None,
            }
            rows.append(row)
            say(f"steps {label} steps_per_execution={v}: {row['steps_per_s']:.0f} steps/s")
    return rows


def steps_table(rows: list[dict]) -> str:
    body = []
    for r in rows:
        ms = 1000 / r["steps_per_s"]
        limit = r["flop_limited_ms"]
        base = next(
            b["steps_per_s"] for b in rows
            if b["model"] == r["model"] and b["steps_per_execution"] == 1
        )  # fmt: skip
        body.append(
            [r["model"], r["batch"], r["steps_per_execution"],
             f"{r['steps_per_s']:.0f} (±{100 * r['spread']:.0f}%)",
             f"{r['steps_per_s'] / base:.2f}x",
             f"{ms:.2f}", f"{limit:.4f}" if limit else "—",
             f"{ms / limit:.0f}x" if limit else "—"]
        )  # fmt: skip
    return markdown_table(
        ["model", "batch", "steps_per_execution", "steps/s", "vs 1", "ms/step",
         "FLOP-limited ms/step", "step / FLOP limit"],
        body,
    )  # fmt: skip


def part_tta(say, target: float = 0.99) -> dict:
    """Seconds from the start of training until the test accuracy (read after every
    epoch) first reaches ``target``, with ``zoo recipe``'s training defaults, and the
    wall time of the whole ``zoo recipe`` command (checks, report, export included)."""
    import keras

    from zoo.outputs import init_output_bias
    from zoo.run import load_for
    from zoo.train import TrainConfig, build_fn, fit

    config, loaded = load_for(TrainConfig())
    keras.utils.set_random_seed(config.seed)
    model = build_fn(config, loaded)()
    init_output_bias(model, loaded.data.y[loaded.indices["train"]])
    marks = []

    class TestAccuracy(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.start = time.perf_counter()
            self.paused = 0.0

        def on_epoch_end(self, epoch, logs=None):
            t = time.perf_counter()
            acc = self.model.evaluate(loaded.test, verbose=0, return_dict=True)["accuracy"]
            self.paused += time.perf_counter() - t  # reading test accuracy is not training
            marks.append((epoch + 1, t - self.start - self.paused, float(acc)))

    with tempfile.TemporaryDirectory() as tmp:
        _, seconds = fit(model, loaded, config, Path(tmp), extra=[TestAccuracy()], verbose=0)
    reached = next(((e, s, a) for e, s, a in marks if a >= target), None)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run(
            [sys.executable, "-m", "zoo.cli", "recipe", "--run-dir", f"{tmp}/run"],
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
        recipe_seconds = time.perf_counter() - start
        metrics = Path(tmp, "run", "metrics.json")
        recipe_test = (
            json.loads(metrics.read_text()).get("test", {}).get("accuracy")
            if metrics.exists() else None
        )  # fmt: skip
    out = {
        "model": config.model,
        "target": target,
        "epochs_run": len(marks),
        "train_seconds": seconds,
        "reached_epoch": reached[0] if reached else None,
        "reached_seconds": reached[1] if reached else None,
        "final_test_accuracy": marks[-1][2] if marks else None,
        "recipe_seconds": recipe_seconds,
        "recipe_rc": proc.returncode,
        "recipe_test_accuracy": recipe_test,
        "curve": marks,
    }
    say(
        f"tta: {target:.0%} test accuracy after {out['reached_seconds']} s (epoch "
        f"{out['reached_epoch']}); whole `zoo recipe` {recipe_seconds:.1f} s"
    )
    return out


def tta_table(r: dict) -> str:
    reached = (
        f"{r['reached_seconds']:.1f} s (epoch {r['reached_epoch']})"
        if r["reached_seconds"] is not None else "not reached"
    )  # fmt: skip
    return markdown_table(
        ["model", "target", "time to target (training only)", "epochs run (early stop)",
         "training s", "final test acc", "whole `zoo recipe` s", "its test acc"],
        [[r["model"], f"{r['target']:.0%}", reached, r["epochs_run"], f"{r['train_seconds']:.1f}",
          f"{r['final_test_accuracy']:.4f}", f"{r['recipe_seconds']:.1f}",
          f"{r['recipe_test_accuracy']:.4f}" if r["recipe_test_accuracy"] else "—"]],
    )  # fmt: skip


# ------------------------------------------------------------------------- main
#: part -> (title, table function); the order of the page
