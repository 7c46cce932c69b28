"""A search worker: ``python -m tuning.worker SEARCH/worker.json``.

Started by the chief (``random_search(workers=N)``, ``zoo tune --workers N``) with Keras
Tuner's ``KERASTUNER_TUNER_ID`` / ``KERASTUNER_ORACLE_IP`` / ``KERASTUNER_ORACLE_PORT``
and ``ZOO_WORKER_CPUS`` (the cores it may use) in its environment. It pins itself to
those cores and sizes TensorFlow's thread pools to them before TensorFlow starts, loads
the same data split as the chief, then asks the chief for trials until none are left.
"""

from __future__ import annotations

import json
import os
import sys


def pin(cpus: str | None) -> int:
    """Pin this process to the comma-separated cores ``cpus`` and size the thread pools
    (oneDNN's OpenMP and TensorFlow's) to match; returns the thread count."""
    cores = [int(c) for c in cpus.split(",") if c.strip()] if cpus else []
    if cores and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, cores)
    threads = len(cores) or os.cpu_count() or 1
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    os.environ.setdefault("TF_NUM_INTRAOP_THREADS", str(threads))
    os.environ.setdefault("TF_NUM_INTEROP_THREADS", str(min(2, threads)))
    return threads


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m tuning.worker SEARCH_FOLDER/worker.json", file=sys.stderr)
        return 2
    try:
        spec = json.loads(open(argv[0]).read())
    except (OSError, ValueError) as e:
        print(f"{argv[0]}: cannot read the search settings ({e}).", file=sys.stderr)
        return 2
    threads = pin(os.environ.get("ZOO_WORKER_CPUS"))
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(min(2, threads))
    from tuning.search import random_search

    random_search(
        spec["source"],
        spec["model"],
        trials=spec["trials"],
        epochs=spec["epochs"],
        directory=spec["directory"],
        seed=spec["seed"],
        space=spec["space"],
        objective=spec["objective"],
        patience=spec["patience"],
        label=spec.get("label"),
        image_size=tuple(spec["image_size"]) if spec.get("image_size") else None,
        data_dir=spec.get("data_dir"),
        algorithm=spec.get("algorithm", "random"),
        say=lambda line: print(line, flush=True),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
