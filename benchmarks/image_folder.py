"""A real image folder at scale: Fashion-MNIST written out as 60,000 PNG files, run
through ``zoo recipe FOLDER --time-budget 10m --tflite int8`` exactly as a user types
it, then scored on the set's official 10,000 test images through the exported
SavedModel in a process that imports TensorFlow only.

Reports, and writes to ``benchmarks/results/image_folder.json``:

- wall time of the whole command against the budget; every check's verdict;
- the settings zoo chose from the data and the plan (epochs, measured step);
- accuracy on the official test images (the exported model), on the recipe's own test
  split, and the time to 90%, 92% and 93% validation accuracy (run clock: from the
  command's start to the end of the first epoch that reached it);
- the input pipeline: files scanned (read, decoded, checked) per second, batches from
  memory per second, against the training step's images per second;
- the TFLite files: float32 and full-integer int8, accuracy, latency per image, size.

Needs Debian's ``dataset-fashion-mnist`` (``apt-get install -y dataset-fashion-mnist``);
zoo never downloads data. Prints what it measured; asserts nothing.

    python benchmarks/image_folder.py [--budget 10m] [--folder /tmp/fashion-mnist]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import RESULTS, command_line, machine, write_json  # noqa: E402  (benchmarks/common.py)
from fashion_folder import write_folder  # noqa: E402

THRESHOLDS = (0.90, 0.92, 0.93)
PUBLISHED = "two conv layers with pooling 0.916, ResNet-18 0.949 (Fashion-MNIST benchmark page)"

#: Scores a SavedModel on a folder of class folders of PNGs; imports no zoo, no Keras.
SCORE = r"""
import json, sys
from pathlib import Path
import numpy as np
import tensorflow as tf
from PIL import Image
export, root = sys.argv[1], Path(sys.argv[2])
classes = sorted(p.name for p in root.iterdir() if p.is_dir())
x, y = [], []
for label, name in enumerate(classes):
    for path in sorted((root / name).glob("*.png")):
        x.append(np.asarray(Image.open(path))[..., None])
        y.append(label)
x, y = np.stack(x).astype("float32"), np.array(y)
serve = tf.saved_model.load(export).signatures["serving_default"]
pred = np.concatenate(
    [serve(inputs=tf.constant(x[i : i + 1000]))["class_id"].numpy() for i in range(0, len(x), 1000)]
)
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("zoo", "keras"))
print(json.dumps({"accuracy": float(np.mean(pred == y)), "examples": len(y),
                  "zoo_or_keras_imported": [m for m in loaded if m.startswith("zoo")]}))
"""


def run_recipe(train: Path, run_dir: Path, budget: str, log: Path) -> float:
    """The command as a user types it; returns its wall time."""
    cmd = [sys.executable, "-m", "zoo", "recipe", str(train), "--time-budget", budget,
           "--tflite", "int8", "--run-dir", str(run_dir), "--overwrite"]  # fmt: skip
    print("$ zoo " + " ".join(cmd[3:]), flush=True)
    start = time.perf_counter()
    with open(log, "w") as out:
        code = subprocess.call(cmd, stdout=out, stderr=subprocess.STDOUT)
    seconds = time.perf_counter() - start
    if code != 0:
        raise SystemExit(f"zoo recipe exited with {code}; see {log}")
    return seconds


def score_official_test(export: Path, test: Path) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", SCORE, str(export), str(test)],
        capture_output=True,
        text=True,
        check=True,
        cwd="/",
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def time_to(run_dir: Path, began: float) -> dict:
    """Run-clock seconds at the end of the first epoch whose validation accuracy
    reached each threshold (None: never)."""
    with open(run_dir / "history.csv") as f:
        rows = list(csv.DictReader(f))
    reached = {}
    for t in THRESHOLDS:
        hit = next((r for r in rows if float(r["val_accuracy"]) >= t), None)
        reached[f"{t:.2f}"] = round(began + float(hit["seconds"]), 1) if hit else None
    return reached


def pipeline_rates(train: Path, batch_size: int) -> dict:
    """Files scanned per second (read + decode + check, once) and batches from memory
    per second (shuffle, batch, preprocess) over one epoch."""
    from zoo.data import load

    start = time.perf_counter()
    loaded = load(str(train), batch_size=batch_size)
    scan = loaded.data.scan
    start = time.perf_counter()
    images = sum(len(y) for _, y in loaded.train)
    seconds = time.perf_counter() - start
    return {
        "files": len(scan.paths),
        "scan_seconds": round(scan.seconds, 1),
        "scan_files_per_s": round(len(scan.paths) / scan.seconds),
        "kept_in_memory": loaded.data.x is not None,
        "pipeline_images_per_s": round(images / seconds),
    }


def table(r: dict) -> str:
    reach = ", ".join(
        f"{float(k):.0%} at {v:.0f}s" if v is not None else f"{float(k):.0%} not reached"
        for k, v in r["time_to"].items()
    )
    p, q = r["pipeline"], r["int8"]
    trained = round(r["epochs_run"] * r["num_examples"]["train"] / r["train_seconds"])
    rows = [
        "| measure | figure |",
        "|---|---|",
        f"| command | `{r['command']}` |",
        f"| wall time | {r['wall_seconds']:.0f}s (budget {r['budget_seconds']:.0f}s) |",
        f"| checks | {r['checks_passed']}/{r['checks']} passed |",
        f"| chosen from the data | {'; '.join(r['chosen'])} |",
        f"| plan | {r['plan']['epochs']} epochs planned, {r['epochs_run']} run, "
        f"{r['train_seconds']:.0f}s of training; a step {1000 * r['plan']['step_seconds']:.0f} "
        f"ms |",
        f"| **official test accuracy** (10,000 images, exported SavedModel, TensorFlow-only "
        f"process) | **{r['official_test']['accuracy']:.4f}** |",
        f"| the recipe's own test split ({r['num_examples']['test']:,} held-out training "
        f"images) | {r['own_test_accuracy']:.4f} |",
        f"| time to validation accuracy (run clock) | {reach} |",
        f"| published, same test set | {PUBLISHED} |",
        f"| scan: files read, decoded and checked once | {p['files']:,} in {p['scan_seconds']}s "
        f"({p['scan_files_per_s']:,} files/s), pixels kept in memory: {p['kept_in_memory']} |",
        f"| pipeline from memory against training | {p['pipeline_images_per_s']:,} images/s "
        f"(shuffle, batch, scale; one epoch, nothing else running) against {trained:,} "
        f"images/s trained (epochs x training images / training seconds, validation and "
        f"callbacks included; the step alone, measured before training: "
        f"{r['step_images_per_s']:,}), {p['pipeline_images_per_s'] / trained:.0f}x |",
        f"| TFLite float32 | accuracy {q['float32']['accuracy']:.4f}, "
        f"{q['float32']['latency_ms']:.3f} ms per image, {q['float32']['size_bytes'] / 1024:.0f} "
        f"KB |",
        f"| TFLite int8 (full-integer) | accuracy {q['int8']['accuracy']:.4f}, "
        f"{q['int8']['latency_ms']:.3f} ms per image, {q['int8']['size_bytes'] / 1024:.0f} KB; "
        f"{q['agreement']:.1%} of predictions as float32's |",
    ]
    return "\n".join(rows)


def run(budget: str, folder: Path, run_dir: Path) -> dict:
    from zoo.config import parse_duration

    paths = write_folder(folder)
    log = run_dir.parent / f"{run_dir.name}.log"
    wall = run_recipe(paths["train"], run_dir, budget, log)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    official = score_official_test(run_dir / "export", paths["test"])
    plan = metrics["plan"]
    checks = metrics["checks"]
    batch = json.loads((run_dir / "config.json").read_text())["batch_size"]
    return {
        "data": "Fashion-MNIST as 60,000 PNG files (train) + 10,000 (official test)",
        "command": f"zoo recipe FOLDER --time-budget {budget} --tflite int8",
        "budget_seconds": parse_duration(budget),
        "wall_seconds": round(wall, 1),
        "checks": len(checks),
        "checks_passed": sum(1 for c in checks.values() if c["passed"]),
        "checks_failed": [k for k, c in checks.items() if not c["passed"]],
        "chosen": [f"{k} {v['value']} ({v['why']})" for k, v in metrics["chosen"].items()],
        "plan": plan,
        "epochs_run": metrics["epochs_run"],
        "train_seconds": metrics["train_seconds"],
        "official_test": official,
        "own_test_accuracy": metrics["test"]["accuracy"],
        "num_examples": metrics["num_examples"],
        "time_to": time_to(run_dir, plan["training_began"]),
        "pipeline": pipeline_rates(paths["train"], batch),
        "step_images_per_s": round(batch / plan["step_seconds"]),  # the plan's estimate
        "int8": metrics["export"]["tflite_int8"],
        "log": str(log),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--budget", default="10m")
    p.add_argument("--folder", default="/tmp/fashion-mnist", help="where the PNGs are written")
    p.add_argument("--run-dir", default="/tmp/fashion-mnist-run")
    p.add_argument("--out", default=str(RESULTS / "image_folder.json"))
    args = p.parse_args()
    save(run(args.budget, Path(args.folder), Path(args.run_dir)), args.out)


def save(result: dict, out: str | Path = RESULTS / "image_folder.json") -> None:
    """Print the table and write the result (``docs/benchmarks.md`` is built from it)."""
    markdown = table(result)
    print(markdown)
    payload = {
        "command": command_line(),
        "machine": machine(),
        "results": result,
        "markdown": markdown,
    }
    print(f"\nwritten: {write_json(out, payload)}")


if __name__ == "__main__":
    main()
