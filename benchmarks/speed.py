"""Speed against the peers and against the machine's limit, as ratios from one run.

Parts (``--parts``, all by default):

- ``peak``: the machine's limit, a 4096x4096 matmul in float32 and bfloat16, timed in
  TensorFlow and in PyTorch; the faster of the two is the peak that MFU divides by.
- ``throughput``: training and inference examples/s of zoo ResNet-50 (224x224) and CIFAR
  ResNet-20 (32x32) against ``keras.applications.ResNet50`` and the same architectures
  written in PyTorch (``torch_resnet.py``), same batch, same precision (float32 and
  mixed bfloat16), in fresh processes alternating between the frameworks round by
  round; each figure is the median step over ``--steps`` steps after warm-up, then the
  median over rounds. MFU = 6 x MACs x examples/s for training (2 x for inference)
  over the peak of that precision.
- ``precision``: float32 against mixed_bfloat16 per model after the same short,
  fixed training budget on digits (test accuracy next to the seconds), so that speed
  never hides a worse model.
- ``steps``: steps/s of the digits convnet and the breast_cancer MLP with
  ``steps_per_execution`` 1, 8 and 32, against the FLOP-limited step time.
- ``tta``: wall time for ``zoo recipe``'s training defaults to reach 99% test
  accuracy on digits (test accuracy read after every epoch), and the whole command.

Prints Markdown tables, writes ``benchmarks/results/speed.json``; asserts nothing.
PyTorch is optional (``pip install torch==2.13.0``): without it its columns say so.

    python benchmarks/speed.py [--parts peak,throughput,precision,steps,tta] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402  (benchmarks/common.py, beside this file)
    ROOT,
    header_line,
    machine,
    markdown_table,
    median,
    spread,
    timed,
    write_result,
)

PARTS = ("peak", "throughput", "precision", "steps", "tta")
#: model -> (input shape, classes, training batch, inference batch)
SHAPES = {
    "resnet50": ((224, 224, 3), 1000, 32, 32),
    "cifar_resnet20": ((32, 32, 3), 10, 128, 256),
}
PRECISIONS = ("float32", "mixed_bfloat16")


def have_torch() -> bool:
    import importlib.util

    return importlib.util.find_spec("torch") is not None


# ----------------------------------------------------------------- one measurement
def one_peak(framework: str, dtype: str, n: int = 4096, repeats: int = 9) -> dict:
    if framework == "torch":
        import torch

        dt = torch.float32 if dtype == "float32" else torch.bfloat16
        a, b = torch.randn(n, n, dtype=dt), torch.randn(n, n, dtype=dt)
        times = timed(lambda: a @ b, repeats, warmup=2)
    else:
        import tensorflow as tf

        dt = tf.float32 if dtype == "float32" else tf.bfloat16
        a = tf.cast(tf.random.normal((n, n)), dt)
        b = tf.cast(tf.random.normal((n, n)), dt)
        matmul = tf.function(tf.matmul)
        times = timed(lambda: matmul(a, b).numpy(), repeats, warmup=2)
    return {"gflops": 2 * n**3 / median(times) / 1e9}


def keras_model(framework: str, name: str, precision: str):
    import keras

    shape, classes, _, _ = SHAPES[name]
    keras.config.set_dtype_policy(precision)
    if framework == "keras":
        model = keras.applications.ResNet50(
            weights=None, input_shape=shape, classes=classes, classifier_activation=None
        )
    else:
        from zoo import create_model

        model = create_model(name, input_shape=shape, num_classes=classes)
    keras.config.set_dtype_policy("float32")
    return model


def one_throughput(
    framework: str, name: str, precision: str, mode: str, steps: int, warmup: int
) -> dict:
    """Median seconds per step of one framework/model/precision/mode, in this process."""
    import numpy as np

    shape, classes, train_batch, infer_batch = SHAPES[name]
    batch = train_batch if mode == "train" else infer_batch
    rng = np.random.default_rng(0)
    x = rng.normal(size=(batch, *shape)).astype("float32")
    y = rng.integers(0, classes, size=batch)
    if framework == "torch":
        return _torch_throughput(name, precision, mode, x, y, steps, warmup)
    import keras
    import tensorflow as tf

    from zoo import count_macs

    keras.utils.set_random_seed(1)
    model = keras_model(framework, name, precision)
    macs = count_macs(model)
    if mode == "infer":
        times = timed(lambda: model.predict_on_batch(x), steps, warmup=warmup)
        return {"seconds": median(times), "batch": batch, "macs": macs}
    model.compile(
        optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    data = tf.data.Dataset.from_tensors((x, y)).repeat()
    times = []

    class StepTimes(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            self.start = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            float(logs["loss"])  # wait for the step
            times.append(time.perf_counter() - self.start)

    model.fit(data, epochs=1, steps_per_epoch=warmup + steps, verbose=0, callbacks=[StepTimes()])
    return {"seconds": median(times[warmup:]), "batch": batch, "macs": macs}


def _torch_throughput(name, precision, mode, x, y, steps, warmup) -> dict:
    import torch

    import torch_resnet

    torch.manual_seed(1)
    model = torch_resnet.MODELS[name](SHAPES[name][1])
    xt = torch.from_numpy(x).permute(0, 3, 1, 2).contiguous(memory_format=torch.channels_last)
    model = model.to(memory_format=torch.channels_last)
    yt = torch.from_numpy(y).long()
    bf16 = precision == "mixed_bfloat16"
    if mode == "infer":
        model.eval()

        def step():
            with torch.inference_mode(), torch.autocast("cpu", torch.bfloat16, enabled=bf16):
                model(xt)

    else:
        model.train()
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

        def step():
            opt.zero_grad(set_to_none=True)
            with torch.autocast("cpu", torch.bfloat16, enabled=bf16):
                loss = torch.nn.functional.cross_entropy(model(xt), yt)
            loss.backward()
            opt.step()

    times = timed(step, steps, warmup=warmup)
    return {
        "seconds": median(times),
        "batch": len(x),
        "params": torch_resnet.params(model),
        "layout": "channels_last",
    }


def one(spec: dict) -> dict:
    kind = spec.pop("kind")
    if kind == "peak":
        return one_peak(**spec)
    if kind == "throughput":
        return one_throughput(**spec)
    raise ValueError(kind)


def in_fresh_process(spec: dict, timeout: float = 1800) -> dict:
    """Run one measurement in a new Python process (no thread pool or allocator state
    carried over from another framework) and return what it measured."""
    proc = subprocess.run(
        [sys.executable, __file__, "--one", json.dumps(spec)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode or not lines:
        raise RuntimeError(f"measurement {spec} failed:\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1])


# ----------------------------------------------------------------------- parts
def part_peak(say) -> dict:
    frameworks = ["tf", "torch"] if have_torch() else ["tf"]
    out = {}
    for dtype in ("float32", "bfloat16"):
        out[dtype] = {
            f: in_fresh_process(dict(kind="peak", framework=f, dtype=dtype)) for f in frameworks
        }
        out[dtype]["peak"] = max(v["gflops"] for v in out[dtype].values())
        say(
            f"peak {dtype}: "
            + ", ".join(f"{f} {out[dtype][f]['gflops']:.0f}" for f in frameworks)
            + " GFLOP/s"
        )
    return out


def part_throughput(say, models, rounds: int, steps: dict, peak: dict | None) -> list[dict]:
    frameworks = ["zoo", "keras", "torch"] if have_torch() else ["zoo", "keras"]
    rows = []
    for name in models:
        peers = [f for f in frameworks if f != "keras" or name == "resnet50"]
        for precision in PRECISIONS:
            for mode in ("train", "infer"):
                per = {f: [] for f in peers}
                info = {}
                for r in range(rounds):
                    order = peers if r % 2 == 0 else peers[::-1]
                    for f in order:
                        got = in_fresh_process(
                            dict(
                                kind="throughput",
                                framework=f,
                                name=name,
                                precision=precision,
                                mode=mode,
                                steps=steps[name],
                                warmup=3,
                            )
                        )
                        per[f].append(got["batch"] / got["seconds"])
                        info[f] = got
                row = {"model": name, "precision": precision, "mode": mode}
                for f in peers:
                    row[f] = median(per[f])
                    row[f"{f}_spread"] = spread(per[f])
                    macs = info[f].get("macs") or info["zoo"]["macs"]
                    if peak:
                        key = "float32" if precision == "float32" else "bfloat16"
                        flops = (6 if mode == "train" else 2) * macs * row[f]
                        row[f"{f}_mfu"] = flops / (peak[key]["peak"] * 1e9)
                rows.append(row)
                say(
                    f"{name} {precision} {mode}: "
                    + ", ".join(f"{f} {row[f]:.1f} ex/s" for f in peers)
                )
    return rows


def throughput_table(rows: list[dict]) -> str:
    header = [
        "model", "precision", "mode", "zoo ex/s", "keras.applications ex/s", "PyTorch ex/s",
        "zoo / keras", "zoo / PyTorch", "MFU zoo", "MFU keras", "MFU PyTorch",
    ]  # fmt: skip
    body = []
    for r in rows:

        def ex(f):
            return f"{r[f]:.1f} (±{100 * r[f + '_spread']:.0f}%)" if f in r else "—"

        def ratio(f):
            return f"{r['zoo'] / r[f]:.2f}x" if f in r else "—"

        def mfu(f):
            return f"{100 * r[f + '_mfu']:.1f}%" if f + "_mfu" in r else "—"

        body.append(
            [r["model"], r["precision"], r["mode"], ex("zoo"), ex("keras"), ex("torch"),
             ratio("keras"), ratio("torch"), mfu("zoo"), mfu("keras"), mfu("torch")]
        )  # fmt: skip
    return markdown_table(header, body)


def peak_table(peak: dict) -> str:
    rows = []
    for dtype, v in peak.items():
        rows.append(
            [dtype, f"{v['tf']['gflops']:.0f}",
             f"{v['torch']['gflops']:.0f}" if "torch" in v else "—", f"{v['peak']:.0f}"]
        )  # fmt: skip
    return markdown_table(
        ["dtype", "TensorFlow GFLOP/s", "PyTorch GFLOP/s", "peak used for MFU"], rows
    )


# ------------------------------------------------------------------------- main
def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--parts", default=",".join(PARTS))
    p.add_argument("--models", default="resnet50,cifar_resnet20")
    p.add_argument("--rounds", type=int, default=2, help="alternating rounds per comparison")
    p.add_argument("--steps", type=int, default=None, help="timed steps (default per model)")
    p.add_argument("--out", default=None, help="JSON path (default benchmarks/results/speed.json)")
    p.add_argument("--one", default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.one:
        print(json.dumps(one(json.loads(args.one))), flush=True)
        return
    parts = args.parts.split(",")
    for part in parts:
        if part not in PARTS:
            raise SystemExit(f"--parts: {part!r} unknown; choose from {', '.join(PARTS)}.")
    models = args.models.split(",")
    for m in models:
        if m not in SHAPES:
            raise SystemExit(f"--models: {m!r} unknown; choose from {', '.join(SHAPES)}.")

    def say(line):
        print(line, flush=True)

    info = machine(torch=have_torch())
    say(header_line(info))
    results, md = {}, []
    if "peak" in parts or "throughput" in parts:
        results["peak"] = part_peak(say)
        md.append("Matmul peak (4096x4096):\n\n" + peak_table(results["peak"]))
    if "throughput" in parts:
        steps = {m: args.steps or (8 if m == "resnet50" else 20) for m in models}
        results["throughput"] = part_throughput(say, models, args.rounds, steps, results["peak"])
        md.append("Throughput:\n\n" + throughput_table(results["throughput"]))
    markdown = header_line(info) + "\n\n" + "\n\n".join(md)
    print("\n" + markdown)
    out = write_result("speed", info, results, markdown, args.out)
    print(f"\nwritten: {out}")


if __name__ == "__main__":
    main()
