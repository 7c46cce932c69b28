"""What every benchmark shares: the machine header, medians, Markdown tables, and the
result file (``benchmarks/results/<name>.json``) that ``docs/benchmarks.md`` is built
from. Imports no TensorFlow until asked for versions."""

from __future__ import annotations

import os
import platform
import shlex
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (else what ``platform`` knows)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_flags() -> set[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def machine(torch: bool = False) -> dict:
    """CPU model, cores, the vector/matrix units that matter for speed, thread
    settings and library versions: the header of every result."""
    import keras
    import numpy as np
    import tensorflow as tf

    flags = cpu_flags()
    info = {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "units": " ".join(f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if f in flags),
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
        "tf_threads": (
            f"intra {tf.config.threading.get_intra_op_parallelism_threads() or 'auto'}, "
            f"inter {tf.config.threading.get_inter_op_parallelism_threads() or 'auto'}"
        ),
        "onednn": _onednn(),
    }
    if torch:
        try:
            import torch as pt

            info["torch"] = pt.__version__
            info["torch_threads"] = pt.get_num_threads()
        except ImportError:
            info["torch"] = "not installed"
    return info


def _onednn() -> str:
    """Whether this process's TensorFlow runs its oneDNN kernels, and why."""
    from zoo.backend import ONEDNN_VARIABLE, onednn_enabled

    state = {True: "on", False: "off", None: "unknown"}[onednn_enabled()]
    return f"{state} ({ONEDNN_VARIABLE}={os.environ.get(ONEDNN_VARIABLE, 'unset')})"


def header_line(info: dict) -> str:
    parts = [f"{info['cpu']}, {info['cores']} cores ({info['units']})"]
    parts.append(f"Python {info['python']}, TensorFlow {info['tensorflow']}, Keras {info['keras']}")
    if "torch" in info:
        parts.append(f"PyTorch {info['torch']} ({info.get('torch_threads', '?')} threads)")
    parts.append(f"TF threads {info['tf_threads']}, oneDNN {info['onednn']}")
    return "machine: " + "; ".join(parts)


def median(values) -> float:
    return float(statistics.median(values))


def spread(values) -> float:
    """Half the range over the median, as a fraction: how much the repeats disagree."""
    values = list(values)
    m = statistics.median(values)
    return float((max(values) - min(values)) / 2 / m) if m else 0.0


def timed(fn, repeats: int, warmup: int = 1) -> list[float]:
    """Seconds per call of ``fn`` (which must block until its work is done)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def steps_within(step_seconds: float, steps: int, budget: float, least: int = 2) -> int:
    """How many timed steps to take: ``steps``, fewer when they would take longer than
    ``budget`` seconds (a slow configuration, such as bfloat16 on a CPU without
    bfloat16 units), but at least ``least``."""
    return max(least, min(steps, int(budget / max(step_seconds, 1e-9))))


def warm_enough(step_seconds: float, budget: float) -> bool:
    """Whether a configuration this slow has had warm-up enough after two steps (the
    first traces, the second runs): one step takes over a sixth of ``budget``."""
    return step_seconds * 6 >= budget


def timed_within(fn, steps: int, warmup: int, budget: float) -> list[float]:
    """``timed`` with up to ``warmup`` untimed calls and the number of timed calls cut
    to fit ``budget`` seconds, judged from the last warm-up call; a slow ``fn`` gets
    two warm-up calls only."""
    last = timed(fn, 1, warmup=1)[0]
    if not warm_enough(last, budget) and warmup > 2:
        last = timed(fn, 1, warmup=warmup - 3)[0]
    return timed(fn, steps_within(last, steps, budget), warmup=0)


def epoch_timer():
    """A Keras callback whose ``times`` are the seconds of each epoch."""
    import keras

    class EpochTimes(keras.callbacks.Callback):
        times: list[float] = []

        def on_train_begin(self, logs=None):
            self.times = []

        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.times.append(time.perf_counter() - self.start)

    return EpochTimes()


def markdown_table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def command_line() -> str:
    """The command that produced a result, as a person would type it from the root."""
    script = Path(sys.argv[0]).resolve()
    try:
        script = script.relative_to(ROOT)
    except ValueError:
        pass
    return " ".join(["python", str(script), *map(shlex.quote, sys.argv[1:])])


def write_result(name: str, info: dict, results, markdown: str, out: str | Path | None = None):
    """Write ``results/<name>.json`` (or ``out``): the machine, the command, when, the
    figures and their Markdown; through a temporary file, so a killed run leaves the
    previous result whole."""
    out = Path(out) if out else RESULTS / f"{name}.json"
    payload = {
        "benchmark": name,
        "command": command_line(),
        "date": time.strftime("%Y-%m-%d"),
        "machine": info,
        "markdown": markdown,
        "results": results,
    }
    return write_json(out, payload)


def write_json(out: str | Path, payload: dict) -> Path:
    """``payload`` as JSON at ``out``, through zoo's atomic writer
    (``zoo.runfolder``): a killed run leaves the previous result whole."""
    from zoo.runfolder import write_json as write_atomically

    return write_atomically(out, payload)


def merge_rows(old: list[dict], new: list[dict], keys: tuple[str, ...]) -> list[dict]:
    """``old`` rows with those measured again in ``new`` (same ``keys``) replaced."""
    fresh = {tuple(r[k] for k in keys) for r in new}
    return [r for r in old if tuple(r[k] for k in keys) not in fresh] + new
