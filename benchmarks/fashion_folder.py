"""Fashion-MNIST as a folder of PNG files, as a user's image data arrives.

Reads Debian's ``dataset-fashion-mnist`` idx files (install it first:
``apt-get install -y dataset-fashion-mnist``; zoo itself never downloads data) and
writes ``OUT/train/<class>/<n>.png`` (60,000 images) and ``OUT/test/<class>/<n>.png``
(the official 10,000 test images), 28x28 grayscale. Files already written are kept,
so a second call costs only the check.

    python benchmarks/fashion_folder.py OUT
"""

from __future__ import annotations

import gzip
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

IDX_DIR = Path("/usr/share/datasets/fashion-mnist")
CLASSES = (
    "t-shirt", "trouser", "pullover", "dress", "coat",
    "sandal", "shirt", "sneaker", "bag", "ankle-boot",
)  # fmt: skip
FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}


def read_idx(split: str, idx_dir: Path = IDX_DIR) -> tuple[np.ndarray, np.ndarray]:
    """``(images uint8 [n, 28, 28], labels int64 [n])`` of ``split``."""
    images_file, labels_file = (idx_dir / f for f in FILES[split])
    if not images_file.exists():
        raise SystemExit(
            f"{images_file} is missing: install Debian's dataset-fashion-mnist "
            "(apt-get install -y dataset-fashion-mnist)."
        )
    with gzip.open(images_file) as f:
        images = np.frombuffer(f.read(), "uint8", offset=16).reshape(-1, 28, 28)
    with gzip.open(labels_file) as f:
        labels = np.frombuffer(f.read(), "uint8", offset=8).astype("int64")
    return images, labels


def write_folder(out: str | Path, idx_dir: Path = IDX_DIR) -> dict[str, Path]:
    """Write both splits under ``out``; returns ``{"train": path, "test": path}``."""
    from PIL import Image

    out = Path(out)
    paths = {}
    for split in FILES:
        images, labels = read_idx(split, idx_dir)
        root = out / split
        done = root / ".complete"
        paths[split] = root
        if done.exists():
            continue
        for name in CLASSES:
            (root / name).mkdir(parents=True, exist_ok=True)

        def save(i: int, images=images, labels=labels, root=root) -> None:
            Image.fromarray(images[i], "L").save(root / CLASSES[labels[i]] / f"{i:05d}.png")

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(save, range(len(images))))
        done.write_text(f"{len(images)}\n")
    return paths


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    for split, path in write_folder(sys.argv[1]).items():
        print(f"{split}: {path}")
