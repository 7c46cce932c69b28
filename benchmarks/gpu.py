"""Training speed on an accelerator, where TensorFlow may be absent: Keras and zoo on
JAX against PyTorch, same architecture, batch and precision.

Rows (each in a fresh process, so that no framework holds the device for the next):

- ``peak``: a bf16 matrix product (8192^3 on a GPU) through JAX and through PyTorch;
  the faster is the peak that MFU divides by.
- ``zoo``: zoo's own training path, what ``zoo train`` runs: ``create_model`` with
  the precision, ``compile_model``'s defaults (``jit_compile`` and
  ``steps_per_execution`` chosen for the backend) with zoo's SGD (Nesterov momentum),
  and ``zoo.callbacks.standard`` (TensorBoard only where TensorFlow is installed).
- ``bare``: the same zoo model compiled by hand: ``jit_compile=True``, one step per
  execution, the same SGD, no metric, no callback.
- ``keras.applications``: ``keras.applications.ResNet50`` (logits) compiled as ``bare``.
- ``torchvision eager`` / ``torch.compile``: ``torchvision.models.resnet50`` (and
  CIFAR ResNet-20 from ``torch_resnet.py``) in channels-last, bf16 autocast where the
  precision is bf16, SGD with Nesterov momentum.

Random data already on the device; each figure is images/s over an epoch of
``--steps`` steps, from its start to its logs (the other callbacks' epoch-end work,
the checkpoints of the zoo path among it, is left out: in a real epoch it is spread
over thousands of steps), the median over ``--epochs - 1`` timed epochs after one of
warm-up. MFU = 6 x MACs x
images/s over the bf16 peak. Prints a Markdown table as each row finishes, writes
``benchmarks/results/gpu.json`` (or ``--out``); asserts nothing. ``--smoke`` runs the
same code with tiny inputs on a CPU in a minute, to test it.

    KERAS_BACKEND=jax python benchmarks/gpu.py [--smoke] [--budget 480] [--only zoo,bare]
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

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(1, str(HERE.parent))

from common import command_line, markdown_table, median, write_json  # noqa: E402

# (row name, model, batch, precision); smoke sizes replace these on a CPU
ROWS = [
    ("zoo", "resnet50", 256, "bf16"),
    ("bare", "resnet50", 256, "bf16"),
    ("torch.compile", "resnet50", 256, "bf16"),
    ("torchvision eager", "resnet50", 256, "bf16"),
    ("zoo", "cifar_resnet20", 512, "bf16"),
    ("torchvision eager", "cifar_resnet20", 512, "bf16"),
    ("keras.applications", "resnet50", 256, "bf16"),
    ("zoo", "resnet50", 128, "fp32"),
    ("bare", "resnet50", 128, "fp32"),
    ("torchvision eager", "resnet50", 128, "fp32"),
]
IMAGE = {"resnet50": 224, "cifar_resnet20": 32}
CLASSES = {"resnet50": 1000, "cifar_resnet20": 10}


# --------------------------------------------------------------------------- one row
def keras_row(kind: str, model_name: str, batch: int, precision: str, args) -> dict:
    import jax
    import keras
    import numpy as np

    import zoo
    from zoo.callbacks import standard
    from zoo.config import resolve_steps_per_execution
    from zoo.optim import compile_model, get_optimizer

    policy = "mixed_bfloat16" if precision == "bf16" else "float32"
    size = args.image or IMAGE[model_name]
    classes = CLASSES[model_name]
    shape = (size, size, 3)
    zoo_model = zoo.create_model(
        model_name, input_shape=shape, num_classes=classes, precision=policy
    )
    macs = zoo.count_macs(zoo_model)
    callbacks = []
    if kind == "keras.applications":
        keras.config.set_dtype_policy(policy)
        model = keras.applications.ResNet50(
            weights=None, input_shape=shape, classes=classes, classifier_activation=None
        )
        keras.config.set_dtype_policy("float32")
    else:
        model = zoo_model
    if kind == "zoo":
        compile_model(  # as zoo.train.build_fn does
            model,
            optimizer="sgd",
            learning_rate=0.01,
            steps_per_execution=resolve_steps_per_execution(None),
        )
        run_dir = tempfile.mkdtemp(prefix="zoo-gpu-")
        callbacks = standard(run_dir, tensorboard=_has("tensorflow"))
    else:
        model.compile(
            optimizer=get_optimizer("sgd", 0.01),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            jit_compile=True,
            steps_per_execution=1,
        )
    rng = np.random.default_rng(1)
    x = jax.device_put(rng.standard_normal((batch, *shape), dtype=np.float32))
    y = jax.device_put(rng.integers(0, classes, size=(batch,)).astype(np.int32))

    def batches():
        while True:
            yield x, y

    timer = EpochTimer()
    model.fit(
        batches(),
        steps_per_epoch=args.steps,
        epochs=args.epochs,
        callbacks=[timer, *callbacks],
        verbose=0,
    )
    rates = [batch * args.steps / seconds for seconds in timer.seconds[1:]]
    return {
        "images_per_s": median(rates),
        "rates": rates,
        "macs": macs,
        "jit_compile": bool(model.jit_compile),
        "steps_per_execution": int(model.steps_per_execution),
        "device": str(jax.devices()[0].device_kind),
        "backend": keras.backend.backend(),
    }


class EpochTimer:
    """A Keras callback, put first, timing each epoch from its start to the moment its
    logs are ready, before the other callbacks' epoch-end work (checkpoints, logs);
    it has no batch hook, so it leaves Keras' asynchronous dispatch as it finds it."""

    def __new__(cls):
        import keras

        class _Timer(keras.callbacks.Callback):
            def __init__(self):
                super().__init__()
                self.seconds, self._start = [], None

            def on_epoch_begin(self, epoch, logs=None):
                self._start = time.perf_counter()

            def on_epoch_end(self, epoch, logs=None):
                import jax

                jax.block_until_ready(dict(logs or {}))
                self.seconds.append(time.perf_counter() - self._start)

        return _Timer()


def torch_row(kind: str, model_name: str, batch: int, precision: str, args) -> dict:
    os.environ["JAX_PLATFORMS"] = "cpu"  # JAX only counts the MACs here: the GPU is torch's
    import torch

    import zoo

    device = "cuda" if torch.cuda.is_available() else "cpu"
    size = args.image or IMAGE[model_name]
    classes = CLASSES[model_name]
    if model_name == "resnet50":
        import torchvision

        net = torchvision.models.resnet50(num_classes=classes)
    else:
        from torch_resnet import CifarResNet20

        net = CifarResNet20(classes)
    net = net.to(device, memory_format=torch.channels_last)
    torch.backends.cudnn.benchmark = True
    torch.backends.cuda.matmul.allow_tf32 = True  # what JAX does with float32 on a GPU
    torch.backends.cudnn.allow_tf32 = True
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, nesterov=True)
    x = torch.randn(batch, 3, size, size, device=device).to(memory_format=torch.channels_last)
    y = torch.randint(0, classes, (batch,), device=device)
    loss_fn = torch.nn.CrossEntropyLoss()

    def step(x, y):
        with torch.autocast(device, dtype=torch.bfloat16, enabled=precision == "bf16"):
            loss = loss_fn(net(x), y)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss

    if kind == "torch.compile":
        step = torch.compile(step)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    rates = []
    for epoch in range(args.epochs):
        step(x, y)
        sync()
        start = time.perf_counter()
        for _ in range(args.steps - 1):
            step(x, y)
        sync()
        if epoch:
            rates.append(batch * (args.steps - 1) / (time.perf_counter() - start))
    macs = zoo.count_macs(
        zoo.create_model(model_name, input_shape=(size, size, 3), num_classes=classes)
    )
    return {
        "images_per_s": median(rates),
        "rates": rates,
        "macs": macs,
        "device": torch.cuda.get_device_name() if device == "cuda" else "cpu",
        "backend": f"torch {torch.__version__}",
    }


def peak_row(args) -> dict:
    """bf16 matmul TFLOP/s through JAX and through PyTorch (where installed)."""
    n = args.matmul
    out = {}
    import jax
    import jax.numpy as jnp

    a = jax.random.normal(jax.random.key(1), (n, n), dtype=jnp.bfloat16)
    b = jax.random.normal(jax.random.key(2), (n, n), dtype=jnp.bfloat16)
    mm = jax.jit(lambda a, b: a @ b)
    mm(a, b).block_until_ready()
    times = []
    for _ in range(10):
        start = time.perf_counter()
        mm(a, b).block_until_ready()
        times.append(time.perf_counter() - start)
    out["jax_tflops"] = 2 * n**3 / median(times) / 1e12
    out["device"] = str(jax.devices()[0].device_kind)
    if _has("torch"):
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
        ta = torch.randn(n, n, device=device, dtype=torch.bfloat16)
        tb = torch.randn(n, n, device=device, dtype=torch.bfloat16)
        sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
        ta @ tb
        sync()
        times = []
        for _ in range(10):
            start = time.perf_counter()
            ta @ tb
            sync()
            times.append(time.perf_counter() - start)
        out["torch_tflops"] = 2 * n**3 / median(times) / 1e12
    out["peak_tflops"] = max(v for k, v in out.items() if k.endswith("_tflops"))
    return out


def _machine(peak: dict) -> str:
    import platform

    versions = []
    for module in ("keras", "jax", "torch"):
        if _has(module):
            versions.append(f"{module} {__import__(module).__version__}")
    peak_text = f"bf16 matmul peak {peak.get('peak_tflops', 0):.3g} TFLOP/s"
    return (
        f"machine: {peak.get('device', '?')} ({peak_text}); {platform.processor() or '?'} "
        f"host; Python {platform.python_version()}; " + ", ".join(versions)
    )


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


# --------------------------------------------------------------------------- driver
def run_child(args, row) -> dict:
    """One row in a fresh process; its result, or the error it ended with."""
    cmd = [sys.executable, __file__, "--child", json.dumps(row), *_passed(args)]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode or not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        return {"error": " / ".join(tail) or f"exit {proc.returncode}"}
    result = json.loads(lines[-1][len("RESULT ") :])
    result["wall_s"] = round(time.perf_counter() - start, 1)
    return result


def _passed(args) -> list[str]:
    return [
        f"--steps={args.steps}",
        f"--epochs={args.epochs}",
        f"--matmul={args.matmul}",
        f"--image={args.image or 0}",
    ]


def child(args) -> None:
    row = json.loads(args.child)
    if row == "peak":
        result = peak_row(args)
    else:
        kind, model_name, batch, precision = row
        runner = torch_row if kind.startswith("torch") else keras_row
        result = runner(kind, model_name, batch, precision, args)
    print("RESULT " + json.dumps(result), flush=True)


def table(rows: list[dict], peak: float | None) -> str:
    body = []
    for r in rows:
        ips = r.get("images_per_s")
        mfu = 6 * r["macs"] * ips / (peak * 1e12) if ips and peak else None
        ref = next(
            (
                o.get("images_per_s")
                for o in rows
                if o["row"] == "torch.compile" and o["model"] == r["model"]
                and o["batch"] == r["batch"] and o["precision"] == r["precision"]
            ),
            None,
        )
        body.append(
            [
                r["model"],
                r["batch"],
                r["precision"],
                r["row"],
                f"{ips:,.0f}" if ips else r.get("error", "-")[:120],
                f"{mfu:.1%}" if mfu else "-",
                f"{ips / ref:.2f}x" if ips and ref else "-",
                r.get("wall_s", "-"),
            ]
        )
    header = ["model", "batch", "precision", "row", "img/s", "MFU (bf16 peak)",
              "vs torch.compile", "wall s"]
    return markdown_table(header, body)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, for a CPU")
    parser.add_argument("--steps", type=int, default=40, help="steps per epoch")
    parser.add_argument("--epochs", type=int, default=3, help="the first is warm-up")
    parser.add_argument("--matmul", type=int, default=8192)
    parser.add_argument("--image", type=int, default=0, help="image side (0: the model's)")
    parser.add_argument("--budget", type=float, default=480, help="seconds; rows left then")
    parser.add_argument("--only", default="", help="comma-separated row names")
    parser.add_argument("--out", default=str(HERE / "results" / "gpu.json"))
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.smoke:
        args.steps, args.epochs, args.matmul = min(args.steps, 16), min(args.epochs, 3), 512
        args.image = args.image or 32
    if args.child:
        return child(args)
    rows = ROWS
    if args.smoke:
        rows = [(k, m, 4 if m == "resnet50" else 16, p) for k, m, _, p in ROWS]
    if args.only:
        wanted = set(args.only.split(","))
        rows = [r for r in rows if r[0] in wanted]
    if not _has("torch"):
        print("PyTorch is not installed here: its rows are left out.")
        rows = [r for r in rows if not r[0].startswith("torch")]
    started = time.perf_counter()
    peak = run_child(args, "peak")
    print(f"peak: {json.dumps(peak)}", flush=True)
    results = []
    for kind, model_name, batch, precision in rows:
        if time.perf_counter() - started > args.budget:
            results.append({"row": kind, "model": model_name, "batch": batch,
                            "precision": precision, "error": "left out: --budget spent"})
            continue
        result = run_child(args, [kind, model_name, batch, precision])
        results.append({"row": kind, "model": model_name, "batch": batch,
                        "precision": precision, **result})
        print(f"{kind} {model_name} b{batch} {precision}: "
              f"{result.get('images_per_s', result.get('error'))}", flush=True)
        markdown = table(results, peak.get("peak_tflops"))
        write_json(args.out, {
            "benchmark": "gpu",
            "command": command_line(),
            "date": time.strftime("%Y-%m-%d"),
            "smoke": args.smoke,
            "machine": _machine(peak),
            "peak": peak,
            "markdown": markdown,
            "results": results,
        })
    print(table(results, peak.get("peak_tflops")))


if __name__ == "__main__":
    main()
