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
- ``onednn``: zoo's float32 throughput with TensorFlow's oneDNN kernels off and on
  (``TF_ENABLE_ONEDNN_OPTS``), the setting ``zoo.backend`` picks.
- ``precision``: float32 against mixed_bfloat16 per model after the same short,
  fixed training budget on digits (test accuracy next to the seconds), so that speed
  never hides a worse model.
- ``steps``: steps/s of the digits convnet and the breast_cancer MLP with
  ``steps_per_execution`` 1, 8 and 32, against the FLOP-limited step time.
- ``tta``: wall time for ``zoo recipe``'s training defaults to reach 99% test
  accuracy on digits (test accuracy read after every epoch), and the whole command.

The first three are measured here, the training parts in ``speed_training.py``.
Prints Markdown tables, writes ``benchmarks/results/speed.json``; asserts nothing.
PyTorch is optional (``pip install torch==2.13.0``): without it its columns say so.

    python benchmarks/speed.py [--parts peak,throughput,onednn,precision,steps,tta] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402  (benchmarks/common.py, beside this file)
    RESULTS,
    ROOT,
    command_line,
    header_line,
    machine,
    markdown_table,
    median,
    merge_rows,
    spread,
    steps_within,
    timed,
    timed_within,
    warm_enough,
    write_result,
)
from speed_training import (  # noqa: E402  (benchmarks/speed_training.py, beside this file)
    PRECISIONS,
    part_precision,
    part_steps,
    part_tta,
    precision_table,
    steps_table,
    tta_table,
)

import zoo  # noqa: E402, F401  (before TensorFlow: zoo's oneDNN default, zoo.backend)

PARTS = ("peak", "throughput", "onednn", "precision", "steps", "tta")
#: model -> (input shape, classes, training batch, inference batch)
SHAPES = {
    "resnet50": ((224, 224, 3), 1000, 32, 32),
    "cifar_resnet20": ((32, 32, 3), 10, 128, 256),
}


def have_torch() -> bool:
    import importlib.util

    return importlib.util.find_spec("torch") is not None


# ----------------------------------------------------------------- one measurement
def one_peak(framework: str, dtype: str, seconds: float = 0.3, repeats: int = 7) -> dict:
    """GFLOP/s of a square matmul in ``dtype``, the size grown from 256 until one call
    takes about ``seconds`` (at most 4096): a CPU without bfloat16 units runs
    bfloat16 a hundred times slower than float32, and a fixed 4096 would take hours."""
    if framework == "torch":
        import torch

        dt = torch.float32 if dtype == "float32" else torch.bfloat16

        def make(n):
            a, b = torch.randn(n, n, dtype=dt), torch.randn(n, n, dtype=dt)
            return lambda: a @ b

    else:
        import tensorflow as tf

        dt = tf.float32 if dtype == "float32" else tf.bfloat16
        matmul = tf.function(tf.matmul)

        def make(n):
            a = tf.cast(tf.random.normal((n, n)), dt)
            b = tf.cast(tf.random.normal((n, n)), dt)
            return lambda: matmul(a, b).numpy()

    n = 256
    while True:
        call = make(n)
        once = timed(call, 1, warmup=1)[0]
        if once >= seconds or n >= 4096:
            break
        n *= 2
    times = timed(call, repeats, warmup=1)
    return {"gflops": 2 * n**3 / median(times) / 1e9, "n": n}


def keras_model(framework: str, name: str, precision: str):
    import keras

    shape, classes, _, _ = SHAPES[name]
    if framework == "zoo":
        from zoo import create_model

        return create_model(name, input_shape=shape, num_classes=classes, precision=precision)
    keras.config.set_dtype_policy(precision)
    model = keras.applications.ResNet50(
        weights=None, input_shape=shape, classes=classes, classifier_activation=None
    )
    keras.config.set_dtype_policy("float32")
    return model


def one_throughput(
    framework: str,
    name: str,
    precision: str,
    mode: str,
    steps: int,
    warmup: int,
    budget: float = 60.0,
) -> dict:
    """Median seconds per step of one framework/model/precision/mode, in this process;
    fewer than ``steps`` timed steps (at least 2) when they would take longer than
    ``budget`` seconds, and a single warm-up step when one step takes longer than a
    sixth of it (bfloat16 on a CPU without bfloat16 units)."""
    import numpy as np

    shape, classes, train_batch, infer_batch = SHAPES[name]
    batch = train_batch if mode == "train" else infer_batch
    rng = np.random.default_rng(0)
    x = rng.normal(size=(batch, *shape)).astype("float32")
    y = rng.integers(0, classes, size=batch)
    if framework == "torch":
        return _torch_throughput(name, precision, mode, x, y, steps, warmup, budget)
    import keras
    import tensorflow as tf

    from zoo import count_macs

    keras.utils.set_random_seed(1)
    model = keras_model(framework, name, precision)
    macs = count_macs(model)
    if mode == "infer":
        times = timed_within(lambda: model.predict_on_batch(x), steps, warmup, budget)
        return {"seconds": median(times), "batch": batch, "macs": macs, "steps": len(times)}
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

    model.fit(data, epochs=1, steps_per_epoch=2, verbose=0, callbacks=[StepTimes()])
    if not warm_enough(times[-1], budget) and warmup > 2:
        model.fit(data, epochs=1, steps_per_epoch=warmup - 2, verbose=0, callbacks=[StepTimes()])
    timed_steps = steps_within(times[-1], steps, budget)
    del times[:]
    model.fit(data, epochs=1, steps_per_epoch=timed_steps, verbose=0, callbacks=[StepTimes()])
    return {"seconds": median(times), "batch": batch, "macs": macs, "steps": len(times)}


def _torch_throughput(name, precision, mode, x, y, steps, warmup, budget) -> dict:
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

    times = timed_within(step, steps, warmup, budget)
    return {
        "seconds": median(times),
        "steps": len(times),
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


def in_fresh_process(spec: dict, timeout: float = 1800, env: dict | None = None) -> dict:
    """Run one measurement in a new Python process (no thread pool or allocator state
    carried over from another framework), with ``env`` added to this process's
    environment, and return what it measured."""
    proc = subprocess.run(
        [sys.executable, __file__, "--one", json.dumps(spec)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
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


def part_throughput(
    say,
    models,
    rounds: int,
    steps: dict,
    peak: dict | None,
    budget: float = 60.0,
    bf16_rounds: int = 1,
    precisions=PRECISIONS,
) -> list[dict]:
    frameworks = ["zoo", "keras", "torch"] if have_torch() else ["zoo", "keras"]
    rows = []
    for name in models:
        peers = [f for f in frameworks if f != "keras" or name == "resnet50"]
        for precision in precisions:
            for mode in ("train", "infer"):
                per = {f: [] for f in peers}
                info = {}
                for r in range(rounds if precision == "float32" else bf16_rounds):
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
                                budget=budget,
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


def _ex(r: dict, f: str) -> str:
    return f"{r[f]:.1f} (±{100 * r[f + '_spread']:.0f}%)" if f in r else "—"


def _ratio(r: dict, f: str) -> str:
    return f"{r['zoo'] / r[f]:.2f}x" if f in r else "—"


def _mfu(r: dict, f: str) -> str:
    return f"{100 * r[f + '_mfu']:.1f}%" if f + "_mfu" in r else "—"


def throughput_table(rows: list[dict]) -> str:
    header = [
        "model", "precision", "mode", "zoo ex/s", "keras.applications ex/s", "PyTorch ex/s",
        "zoo / keras", "zoo / PyTorch", "MFU zoo", "MFU keras", "MFU PyTorch",
    ]  # fmt: skip
    body = []
    for r in rows:
        body.append(
            [r["model"], r["precision"], r["mode"], _ex(r, "zoo"), _ex(r, "keras"),
             _ex(r, "torch"), _ratio(r, "keras"), _ratio(r, "torch"), _mfu(r, "zoo"),
             _mfu(r, "keras"), _mfu(r, "torch")]
        )  # fmt: skip
    return markdown_table(header, body)


def peak_table(peak: dict) -> str:
    rows = []
    for dtype, v in peak.items():
        rows.append(
            [dtype, f"{v['tf']['gflops']:.0f} (n={v['tf'].get('n', 4096)})",
             f"{v['torch']['gflops']:.0f} (n={v['torch'].get('n', 4096)})" if "torch" in v
             else "—", f"{v['peak']:.0f}"]
        )  # fmt: skip
    return markdown_table(
        [
            "dtype",
            "TensorFlow GFLOP/s (matmul n)",
            "PyTorch GFLOP/s (matmul n)",
            "peak used for MFU",
        ],
        rows,
    )


def part_onednn(say, models, rounds: int, steps: dict, budget: float) -> list[dict]:
    """zoo's float32 training and inference throughput with TensorFlow's oneDNN kernels
    off (``TF_ENABLE_ONEDNN_OPTS=0``: Eigen's convolutions, TensorFlow's own default
    on CPUs without AVX-512 VNNI / AMX) and on (zoo's default, ``zoo.backend``), in
    alternating fresh processes."""
    settings = ("0", "1")
    rows = []
    for name in models:
        for mode in ("train", "infer"):
            per = {v: [] for v in settings}
            for r in range(rounds):
                for v in settings if r % 2 == 0 else settings[::-1]:
                    spec = dict(
                        kind="throughput", framework="zoo", name=name, precision="float32",
                        mode=mode, steps=steps[name], warmup=3, budget=budget,
                    )  # fmt: skip
                    got = in_fresh_process(spec, env={"TF_ENABLE_ONEDNN_OPTS": v})
                    per[v].append(got["batch"] / got["seconds"])
            row = {"model": name, "mode": mode}
            for v in settings:
                row[f"onednn{v}"] = median(per[v])
                row[f"onednn{v}_spread"] = spread(per[v])
            row["speedup"] = row["onednn1"] / row["onednn0"]
            rows.append(row)
            say(
                f"onednn {name} {mode}: off {row['onednn0']:.1f} ex/s, on {row['onednn1']:.1f} "
                f"ex/s ({row['speedup']:.2f}x)"
            )
    return rows


def onednn_table(rows: list[dict]) -> str:
    body = [
        [r["model"], r["mode"], f"{r['onednn0']:.1f} (±{100 * r['onednn0_spread']:.0f}%)",
         f"{r['onednn1']:.1f} (±{100 * r['onednn1_spread']:.0f}%)", f"{r['speedup']:.2f}x"]
        for r in rows
    ]  # fmt: skip
    return markdown_table(
        ["model (float32)", "mode", "oneDNN off ex/s", "oneDNN on ex/s (zoo's default)",
         "on / off"],
        body,
    )  # fmt: skip


# ------------------------------------------------------------- small models
#: model -> (data, epochs of the fixed budget, input side it trains at)
TABLES = {
    "peak": ("Matmul peak (n grown until a call takes 0.3 s, at most 4096)", peak_table),
    "throughput": ("Throughput", throughput_table),
    "onednn": ("TensorFlow's oneDNN kernels off and on, zoo float32", onednn_table),
    "precision": ("Precision, same fixed budget (mean over seeds 1-2)", precision_table),
    "steps": ("Small models, steps_per_execution", steps_table),
    "tta": ("Time to accuracy, digits", tta_table),
}


def tables(results: dict, info: dict) -> str:
    """The Markdown page of every part measured so far, each with its command."""
    md = [header_line(info)]
    for part, (title, table) in TABLES.items():
        if part in results:
            ran = results.get("commands", {}).get(part)
            md.append(f"{title}" + (f" (`{ran}`)" if ran else "") + ":\n\n" + table(results[part]))
    return "\n\n".join(md)


def previous(out: Path, info: dict) -> dict:
    """The results already in ``out`` from this same machine (CPU and cores), so that
    running one part updates its tables and keeps the others; else nothing."""
    try:
        payload = json.loads(out.read_text())
    except (OSError, ValueError):
        return {}
    old = payload.get("machine", {})
    if (old.get("cpu"), old.get("cores")) != (info["cpu"], info["cores"]):
        print(f"{out} is from another machine ({old.get('cpu')}): starting afresh", flush=True)
        return {}
    return payload.get("results", {})


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--parts", default=",".join(PARTS))
    p.add_argument("--models", default="resnet50,cifar_resnet20")
    p.add_argument("--precision-models", default="convnet,mlp,cifar_resnet20")
    p.add_argument("--rounds", type=int, default=2, help="alternating rounds per comparison")
    p.add_argument(
        "--precisions", default=",".join(PRECISIONS), help="precisions of the throughput part"
    )
    p.add_argument(
        "--bf16-rounds", type=int, default=1,
        help="rounds of the mixed_bfloat16 comparisons (slow on CPUs without bfloat16 units)",
    )  # fmt: skip
    p.add_argument("--steps", type=int, default=None, help="timed steps (default per model)")
    p.add_argument(
        "--budget", type=float, default=60.0,
        help="seconds of timed steps per measurement at most (at least 3 steps are timed)",
    )  # fmt: skip
    p.add_argument("--out", default=None, help="JSON path (default benchmarks/results/speed.json)")
    p.add_argument(
        "--fresh", action="store_true", help="drop the parts measured before; default: keep them"
    )
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
    for precision in args.precisions.split(","):
        if precision not in PRECISIONS:
            raise SystemExit(
                f"--precisions: {precision!r} unknown; choose from {', '.join(PRECISIONS)}."
            )

    def say(line):
        print(line, flush=True)

    info = machine(torch=have_torch())
    say(header_line(info))
    out = Path(args.out) if args.out else RESULTS / "speed.json"
    results = {} if args.fresh else previous(out, info)
    commands = results.setdefault("commands", {})
    if "peak" in parts or "throughput" in parts or "steps" in parts:
        results["peak"] = part_peak(say)
        commands["peak"] = command_line()
    if "throughput" in parts:
        steps = {m: args.steps or (8 if m == "resnet50" else 20) for m in models}
        rows = part_throughput(
            say, models, args.rounds, steps, results["peak"], args.budget, args.bf16_rounds,
            args.precisions.split(","),
        )  # fmt: skip
        results["throughput"] = merge_rows(
            results.get("throughput", []), rows, ("model", "precision", "mode")
        )
    if "onednn" in parts:
        steps = {m: args.steps or (8 if m == "resnet50" else 20) for m in models}
        rows = part_onednn(say, models, args.rounds, steps, args.budget)
        results["onednn"] = merge_rows(results.get("onednn", []), rows, ("model", "mode"))
    if "precision" in parts:
        names = args.precision_models.split(",")
        rows = part_precision(say, names)
        results["precision"] = merge_rows(results.get("precision", []), rows, ("model",))
    if "steps" in parts:
        results["steps"] = part_steps(say, results["peak"])
    if "tta" in parts:
        results["tta"] = part_tta(say)
    for part in parts:
        if part in results:
            commands[part] = command_line()
    markdown = tables(results, info)
    print("\n" + markdown)
    written = write_result("speed", info, results, markdown, out)
    print(f"\nwritten: {written}")


if __name__ == "__main__":
    main()
