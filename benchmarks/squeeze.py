"""What ensembles and distillation buy, over split seeds, on the bundled data.

For each split seed: ``members`` models of the template's defaults (member seeds
1..N, the same split) are trained and scored on test, alone and as ``zoo.ensemble``
(averaged probabilities). On the image task the ensemble then teaches a student (the
same convnet at a quarter of the width) with ``zoo.distill.Distiller``, against the
same student trained from scratch on the labels. Reported: the mean member, the
ensemble and its gain over the mean member, the student from scratch and distilled;
means over the split seeds. Prints Markdown tables, writes JSON; asserts nothing.

    python benchmarks/squeeze.py [--tasks digits,breast_cancer] [--seeds 3] [--members 5]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import warnings
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TASKS = {"digits": "image_classification", "breast_cancer": "tabular_classification"}
STUDENT = {"width_multiplier": 0.25}


def accuracy(model, data) -> float:
    import numpy as np

    x, y = data.arrays("test")
    out = model.predict(x, verbose=0)
    pred = out.argmax(1) if out.shape[-1] > 1 else (out[:, 0] > 0).astype(int)
    return float(np.mean(pred == y))


def trained(config, data, seed, **model_kwargs):
    import tempfile

    import keras

    from zoo.outputs import init_output_bias
    from zoo.train import build_fn, fit

    config = replace(config, seed=seed)
    keras.utils.set_random_seed(seed)
    model = build_fn(config, data, **model_kwargs)()
    init_output_bias(model, data.data.y[data.indices["train"]], data.info.task)
    with tempfile.TemporaryDirectory() as run:
        fit(model, data, config, Path(run), verbose=0)
    return model


def distilled(config, data, teacher, seed) -> float:
    import keras

    from zoo.distill import Distiller
    from zoo.outputs import init_output_bias
    from zoo.train import build_fn

    keras.utils.set_random_seed(seed)
    student = build_fn(config, data, **STUDENT)()
    init_output_bias(student, data.data.y[data.indices["train"]], data.info.task)
    d = Distiller(teacher, student, temperature=4.0, alpha=0.1)
    d.compile(optimizer=keras.optimizers.Adam(config.learning_rate), metrics=["accuracy"])
    stop = keras.callbacks.EarlyStopping(
        monitor="val_hard_loss", mode="min", patience=config.patience, restore_best_weights=True
    )
    d.fit(data.train, validation_data=data.val, epochs=config.epochs, callbacks=[stop], verbose=0)
    return accuracy(student, data)


def run_task(name: str, seeds: list[int], members: int, say) -> dict:
    import numpy as np
    from accuracy import template_config  # benchmarks/accuracy.py, beside this file

    from zoo.ensemble import ensemble
    from zoo.run import load_for

    base = template_config(TASKS[name])
    rows = []
    for split in seeds:
        config, data = load_for(replace(base, seed=split))
        start = time.perf_counter()
        models = [trained(config, data, 100 * split + m) for m in range(1, members + 1)]
        scores = [accuracy(m, data) for m in models]
        teacher = ensemble(models, task=data.info.task)
        row = {
            "split_seed": split,
            "members": scores,
            "mean_member": float(np.mean(scores)),
            "ensemble": accuracy(teacher, data),
            "member_seconds": round((time.perf_counter() - start) / members, 1),
        }
        row["gain"] = row["ensemble"] - row["mean_member"]
        if data.data.kind == "image":
            scratch = trained(config, data, 999, **STUDENT)
            row["student_scratch"] = accuracy(scratch, data)
            row["student_distilled"] = distilled(config, data, teacher, 999)
            row["student_params"] = scratch.count_params()
            row["teacher_params"] = teacher.count_params()
        rows.append(row)
        say(
            f"  {name} split {split}: members {np.round(scores, 4).tolist()}, ensemble "
            f"{row['ensemble']:.4f} ({row['gain']:+.4f})"
            + (
                f"; student scratch {row['student_scratch']:.4f}, distilled "
                f"{row['student_distilled']:.4f}"
                if "student_scratch" in row
                else ""
            )
        )
    summary = {
        "task": name,
        "model": base.model,
        "test_examples": int(data.info.num_examples["test"]),
        "rows": rows,
        "mean_member": float(np.mean([r["mean_member"] for r in rows])),
        "ensemble": float(np.mean([r["ensemble"] for r in rows])),
        "gain": float(np.mean([r["gain"] for r in rows])),
    }
    if "student_scratch" in rows[0]:
        for key in ("student_scratch", "student_distilled"):
            summary[key] = float(np.mean([r[key] for r in rows]))
        summary["student_params"] = rows[0]["student_params"]
        summary["teacher_params"] = rows[0]["teacher_params"]
    return summary


def tables(results: list[dict], members: int) -> str:
    lines = [
        f"| data | model | split seeds | test examples | mean member | ensemble of {members} "
        "| gain |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r['task']} | {r['model']} | {len(r['rows'])} | {r['test_examples']} | "
            f"{r['mean_member']:.4f} | {r['ensemble']:.4f} | {r['gain']:+.4f} |"
        )
    students = [r for r in results if "student_scratch" in r]
    if students:
        lines += [
            "",
            "| data | teacher (ensemble) | student from scratch | student distilled | "
            "student / teacher weights |",
            "|---|---|---|---|---|",
        ]
        for r in students:
            lines.append(
                f"| {r['task']} | {r['ensemble']:.4f} | {r['student_scratch']:.4f} | "
                f"{r['student_distilled']:.4f} | {r['student_params']:,} / "
                f"{r['teacher_params']:,} |"
            )
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--tasks", default=",".join(TASKS))
    p.add_argument("--seeds", type=int, default=3, help="split seeds 1..N")
    p.add_argument("--members", type=int, default=5)
    p.add_argument("--out", default="benchmarks/results/squeeze.json")
    args = p.parse_args()
    warnings.simplefilter("ignore")
    import keras
    import tensorflow as tf

    header = (
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
        f"TensorFlow {tf.__version__}, Keras {keras.__version__}"
    )
    print(header, flush=True)
    results = []
    for name in args.tasks.split(","):
        if name not in TASKS:
            raise SystemExit(f"--tasks: {name!r} unknown; choose from {', '.join(TASKS)}.")
        seeds = list(range(1, args.seeds + 1))
        results.append(run_task(name, seeds, args.members, lambda s: print(s, flush=True)))
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({"machine": header, "results": results}, indent=2) + "\n")
    print()
    print(tables(results, args.members))
    print(f"\nwritten: {args.out}")


if __name__ == "__main__":
    main()
