"""What ``jit_compile`` and ``steps_per_execution`` cost on each Keras backend, the
figures behind zoo's per-backend defaults (``zoo.optim.default_jit_compile``,
``zoo.config.resolve_steps_per_execution``).

For each backend installed (TensorFlow, JAX, PyTorch), ``jit_compile`` off and on, and
``steps_per_execution`` 1 and 8 (PyTorch: 1 only, it refuses more): zoo's own training
path (``zoo.train.build_fn`` and ``fit``, the standard callbacks) trains ``--model`` on
digits for ``--epochs`` epochs in a fresh process; each figure is the median epoch
after the first (which holds the compilation), and the first epoch beside it. The row
zoo picks by default is marked. Prints a Markdown table, writes
``benchmarks/results/backends.json``; asserts nothing.

    python benchmarks/backends.py [--model convnet] [--epochs 4]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import machine, markdown_table, median, write_result  # noqa: E402

CHILD = r"""
import json, sys, tempfile, time
from pathlib import Path
sys.path.insert(0, sys.argv[4])
import keras, zoo
from common import epoch_timer
from zoo.optim import default_jit_compile
from zoo.train import TrainConfig, build_fn, fit
from zoo.run import load_for
model, epochs, setting = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
config, loaded = load_for(TrainConfig(model=model, epochs=epochs, patience=100,
                                      steps_per_execution=setting["spe"]))
build = build_fn(config, loaded)
keras.utils.set_random_seed(config.seed)
net = build()
if setting["jit"] != default_jit_compile():  # compile_model's "auto", overridden
    net.compile(optimizer=net.optimizer, loss=net.loss, metrics=["accuracy"],
                jit_compile=setting["jit"], steps_per_execution=setting["spe"])
timer = epoch_timer()
history, seconds = fit(net, loaded, config, Path(tempfile.mkdtemp()), extra=[timer], verbose=0)
print(json.dumps({"times": timer.times, "val_accuracy": history["val_accuracy"][-1],
                  "default_jit": default_jit_compile(), "jit": bool(net.jit_compile),
                  "spe": int(net.steps_per_execution)}))
"""


def settings(backend: str) -> list[dict]:
    spes = (1,) if backend == "torch" else (1, 8)
    return [{"jit": jit, "spe": spe} for jit in (False, True) for spe in spes]


def run(backend: str, setting: dict, args) -> dict:
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    cmd = [sys.executable, "-c", CHILD, args.model, str(args.epochs), json.dumps(setting),
           str(HERE)]  # fmt: skip
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tempfile.gettempdir())
    if done.returncode:
        return {"error": (done.stderr.strip().splitlines() or ["?"])[-1][:200]}
    out = json.loads(done.stdout.strip().splitlines()[-1])
    out["wall_s"] = round(time.perf_counter() - start, 1)
    return out


def table(rows: list[dict]) -> str:
    body = []
    for r in rows:
        if "error" in r:
            body.append([r["backend"], r["jit"], r["spe"], "-", "-", "-", r["error"]])
            continue
        times = r["times"]
        default = r["jit"] == r["default_jit"] and r["spe"] == (1 if r["backend"] == "torch" else 8)
        body.append(
            [
                r["backend"],
                "on" if r["jit"] else "off",
                r["spe"],
                f"{median(times[1:]):.2f}",
                f"{times[0]:.1f}",
                f"{r['val_accuracy']:.3f}",
                "zoo's default" if default else "",
            ]
        )
    header = ["backend", "jit_compile", "steps/execution", "epoch s (median after the first)",
              "first epoch s", "val accuracy", ""]  # fmt: skip
    return markdown_table(header, body)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="convnet")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    backends = [b for b in ("tensorflow", "jax", "torch") if importlib.util.find_spec(b)]
    rows = []
    for backend in backends:
        for setting in settings(backend):
            result = run(backend, setting, args)
            rows.append({"backend": backend, **setting, **result})
            print(f"{backend} jit={setting['jit']} spe={setting['spe']}: "
                  f"{result.get('times', result.get('error'))}", flush=True)  # fmt: skip
    markdown = table(rows)
    print(markdown)
    write_result("backends", machine(), rows, markdown, args.out)


if __name__ == "__main__":
    main()
