"""Is the image-folder pipeline ever the bottleneck?

Writes the bundled digits as PNG files (upscaled, so that decoding and resizing do real
work), then measures in one run:

1. images/s of the folder pipeline alone (read + decode + resize + batch, no cache),
2. images/s of training steps of a small zoo model on the same images held in memory,
3. epoch time of training from the folder (decoding every epoch, ``cache=False``), and
   from the folder with zoo's default ``cache=True`` (decoded once), against training
   from in-memory tensors.

The target is a pipeline that never holds training back: pipeline / model >= 0.95,
and an epoch from the (cached) folder within 5% of one from memory. Decoding every
epoch costs CPU time that a machine with few cores takes from the training step; the
uncached row shows how much. The script prints what it measured; it asserts nothing.

    python benchmarks/data_pipeline.py [--model convnet] [--stored-size 48] [--size 32]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import epoch_timer  # noqa: E402  (benchmarks/common.py, beside this file)

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def write_digits_folder(root: Path, stored: int, copies: int) -> int:
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    n = 0
    for c in range(copies):
        for i, (image, label) in enumerate(zip(digits.images, digits.target, strict=True)):
            folder = root / str(label)
            folder.mkdir(parents=True, exist_ok=True)
            pixels = (image * 255 / 16).astype("uint8")
            Image.fromarray(pixels, "L").resize((stored, stored), Image.BILINEAR).save(
                folder / f"{c}-{i}.png"
            )
            n += 1
    return n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="convnet")
    parser.add_argument("--stored-size", type=int, default=48, help="PNG side on disk")
    parser.add_argument("--size", type=int, default=32, help="side the pipeline resizes to")
    parser.add_argument("--copies", type=int, default=2, help="copies of the 1797 digits")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=3, help="epochs per training timing")
    parser.add_argument("--json", default=None, help="also write the figures to this file")
    args = parser.parse_args()

    import keras
    import numpy as np
    import tensorflow as tf

    from zoo.data import load
    from zoo.registry import create_model

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "digits"
        start = time.perf_counter()
        n_files = write_digits_folder(root, args.stored_size, args.copies)
        print(
            f"wrote {n_files} PNGs of {args.stored_size}x{args.stored_size} in "
            f"{time.perf_counter() - start:.1f}s",
            flush=True,
        )
        common = dict(
            batch_size=args.batch_size, image_size=args.size, val_fraction=0, test_fraction=0
        )
        folder = load(root, cache=False, **common)
        n = folder.info.num_examples["train"]

        # 1. The pipeline alone: two passes, the second timed (file cache warm).
        for _ in folder.train:
            pass
        start = time.perf_counter()
        for _ in folder.train:
            pass
        pipeline_rate = n / (time.perf_counter() - start)
        print(f"pipeline: {pipeline_rate:,.0f} images/s", flush=True)

        # 2. and 3. Training from memory, then from the folder, same model and seed.
        x, y = folder.arrays("train", preprocessed=True)
        memory = (
            tf.data.Dataset.from_tensor_slices((x, y))
            .cache()
            .shuffle(n, seed=42)
            .batch(args.batch_size)
            .prefetch(tf.data.AUTOTUNE)
        )
        times = {}
        cached = load(root, cache=True, **common)  # zoo's default: decode once, keep
        runs = (("memory", memory), ("folder", folder.train), ("folder, cached", cached.train))
        for name, data in runs:
            keras.utils.set_random_seed(42)
            model = create_model(
                args.model, input_shape=folder.info.input_shape, num_classes=folder.info.num_classes
            )
            model.compile(
                optimizer=keras.optimizers.Adam(3e-4),
                loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            )
            timer = epoch_timer()
            model.fit(data, epochs=args.epochs + 1, verbose=0, callbacks=[timer], shuffle=False)
            times[name] = float(np.median(timer.times[1:]))  # epoch 1 traces the graph
            print(f"training from {name}: {times[name]:.2f}s per epoch", flush=True)
        model_rate = n / times["memory"]

    rows = [
        ("images per epoch", f"{n}"),
        ("image size (stored -> model)", f"{args.stored_size} -> {args.size}"),
        ("pipeline (decode+resize+batch)", f"{pipeline_rate:,.0f} images/s"),
        (f"{args.model} training step rate", f"{model_rate:,.0f} images/s"),
        ("pipeline / model", f"{pipeline_rate / model_rate:.2f}"),
        ("epoch from memory", f"{times['memory']:.2f} s"),
        ("epoch from folder (no cache)", f"{times['folder']:.2f} s"),
        ("memory / folder epoch time", f"{times['memory'] / times['folder']:.2f}"),
        ("epoch from folder, cached (default)", f"{times['folder, cached']:.2f} s"),
        ("memory / cached-folder epoch time", f"{times['memory'] / times['folder, cached']:.2f}"),
        ("pipeline / model >= 0.95", "met" if pipeline_rate / model_rate >= 0.95 else "NOT met"),
        (
            "cached-folder epoch >= 0.95 of memory",
            "met" if times["memory"] / times["folder, cached"] >= 0.95 else "NOT met",
        ),
    ]
    width = max(len(r[0]) for r in rows)
    print()
    print(f"{'measure'.ljust(width)}  value")
    print(f"{'-' * width}  -----")
    for key, value in rows:
        print(f"{key.ljust(width)}  {value}")
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "images": n,
                    "pipeline_images_per_s": pipeline_rate,
                    "model_images_per_s": model_rate,
                    "epoch_s": times,
                    "cpu_count": os.cpu_count(),
                },
                indent=2,
            )
            + "\n"
        )


if __name__ == "__main__":
    main()
