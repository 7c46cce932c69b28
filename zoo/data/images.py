"""A folder of images, one sub-folder per class (``root/<class>/<image>``).

``scan_image_folder`` opens every file once (Pillow, in threads) to learn its size and
mode and to find the unreadable ones, which are listed and left out rather than
crashing an epoch halfway. That pass decodes every image anyway, so it keeps the pixels
while they fit in ``keep_bytes`` (1 GiB: 60,000 28x28 images take 47 MB); ``to_array``
then makes the in-memory data set and the pipeline never reads a file again. A folder
too large to keep streams from disk: TensorFlow decodes and resizes each file inside
the ``tf.data`` pipeline (``decode_fn``), decoded once and cached.

Keras' ``image_dataset_from_directory`` reads the same layout, but it splits into two
parts only, without stratification, and fails mid-epoch on a corrupt file; this module
is the thin part that differs.
"""

from __future__ import annotations

import collections
import sys
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from zoo.data.errors import DataError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
# Pillow modes by the number of channels they decode to.
GRAY_MODES = {"1", "L", "LA", "I", "I;16", "F"}


@dataclass
class ImageScan:
    """What a folder holds: readable images with labels, and what was left out."""

    root: Path
    class_names: list[str]
    paths: list[str]
    labels: np.ndarray
    sizes: list[tuple[int, int]]  # (height, width) of each readable image
    modes: list[str]  # Pillow mode of each readable image ("L", "RGB", ...)
    corrupt: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    ignored: list[str] = field(default_factory=list)  # files that are not images
    # decoded pixels of each readable image (uint8, HxW gray or HxWx3), or None where
    # the folder was too large to keep, or held a mode decoded otherwise by TensorFlow
    pixels: list[np.ndarray] | None = None
    seconds: float = 0.0  # how long the scan took

    def channels(self) -> int:
        """3 if any image has colour, else 1."""
        return 1 if all(_is_gray(m) for m in self.modes) else 3


def _is_gray(mode: str) -> bool:
    return mode in GRAY_MODES


#: Pillow modes whose pixels Pillow and TensorFlow decode to the same 8-bit values
#: (alpha dropped); a folder with any other mode (16-bit, float) streams through
#: TensorFlow's decoder instead of being kept from the scan.
KEPT_MODES = {"1", "L", "LA", "P", "RGB", "RGBA"}
#: The most decoded bytes a scan keeps in memory.
KEEP_BYTES = 1 << 30


class _Budget:
    """Bytes of pixels still allowed; once exceeded, nothing more is kept."""

    def __init__(self, limit: int):
        self.left, self.lock = limit, threading.Lock()

    def take(self, n: int) -> bool:
        with self.lock:
            self.left -= n
            return self.left >= 0


def _open(path: str, budget: _Budget | None = None):
    """``((height, width), mode, pixels or None)`` of a readable image, or why it
    cannot be read. ``pixels`` (uint8; gray images HxW, colour HxWx3) while
    ``budget`` lasts."""
    try:
        with Image.open(path) as im:
            im.load()  # decodes fully: a truncated file fails here, not in training
            mode = im.mode
            if mode == "P":  # palette: colour unless every palette entry is gray
                r, g, b = im.convert("RGB").split()
                mode = "L" if r.tobytes() == g.tobytes() == b.tobytes() else "RGB"
            pixels = None
            if budget is not None and im.mode in KEPT_MODES:
                gray = _is_gray(mode)
                if budget.take(im.height * im.width * (1 if gray else 3)):
                    pixels = np.asarray(im.convert("L" if gray else "RGB"))
            return (im.height, im.width), mode, pixels
    except Exception as err:  # Pillow raises many types for bad files
        return f"{type(err).__name__}: {err}"


def scan_image_folder(
    root: str | Path, *, workers: int = 8, keep_bytes: int | None = None, progress: bool = True
) -> ImageScan:
    """Index ``root/<class>/**/<image>``; warn about and leave out unreadable files.
    Keeps the decoded pixels when they all fit in ``keep_bytes`` (None: ``KEEP_BYTES``;
    0: never). A folder
    of 2,000 files or more shows a progress bar with the time left, unless
    ``progress`` is False."""
    started = time.perf_counter()
    root = Path(root)
    if not root.exists():
        raise DataError(f"Image folder {root} does not exist; check the path.")
    if not root.is_dir():
        raise DataError(f"{root} is not a folder; an image source is a folder of class folders.")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise DataError(
            f"Image folder {root} has no class sub-folders. Put the images of each class in "
            f"a folder of its own: {root}/<class name>/<image>.png"
        )
    files: list[tuple[str, int]] = []
    ignored: list[str] = []
    for label, name in enumerate(classes):
        for path in sorted((root / name).rglob("*")):
            if not path.is_file() or path.name.startswith("."):
                continue
            if path.suffix.lower() in IMAGE_EXTENSIONS:
                files.append((str(path), label))
            else:
                ignored.append(str(path))
    if not files:
        raise DataError(
            f"Image folder {root} has class folders ({', '.join(classes)}) but no images "
            f"in them (looked for {', '.join(IMAGE_EXTENSIONS)})."
        )
    keep_bytes = KEEP_BYTES if keep_bytes is None else keep_bytes
    budget = _Budget(keep_bytes) if keep_bytes > 0 else None
    bar = _progress_bar(len(files), root) if progress and len(files) >= 2000 else None
    opened = []
    decoding = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        for i, o in enumerate(pool.map(lambda p: _open(p, budget), [p for p, _ in files])):
            opened.append(o)
            if bar is not None and ((i + 1) % 500 == 0 or i + 1 == len(files)):
                bar.update(i + 1)
                # a log gets the estimate once, from the files between 5% and 25% (the
                # first pay for the imports and the threads, and finish out of order)
                first, last = len(files) // 20 // 500 * 500, len(files) // 4 // 500 * 500
                if i + 1 == first:
                    decoding = time.perf_counter()
                elif i + 1 == last and not sys.stdout.isatty():
                    rate = (last - first) / (time.perf_counter() - decoding)
                    print(f"about {(len(files) - last) / rate:.0f}s more", flush=True)
    good = [(f, o) for f, o in zip(files, opened, strict=True) if not isinstance(o, str)]
    corrupt = [(f[0], o) for f, o in zip(files, opened, strict=True) if isinstance(o, str)]
    if corrupt:
        shown = "\n  ".join(f"{p} ({why})" for p, why in corrupt[:10])
        more = f"\n  ... and {len(corrupt) - 10} more" if len(corrupt) > 10 else ""
        warnings.warn(
            f"{root}: {len(corrupt)} unreadable image file(s) left out:\n  {shown}{more}\n"
            "Replace or delete them.",
            stacklevel=2,
        )
    if not good:
        raise DataError(f"Image folder {root}: none of the {len(files)} image files is readable.")
    labels = np.array([label for (_, label), _ in good], "int64")
    empty = [classes[i] for i in range(len(classes)) if not np.any(labels == i)]
    if empty:
        raise DataError(
            f"Image folder {root}: class folder(s) {', '.join(empty)} hold no readable "
            "image; add images or remove the folder."
        )
    kept = [o[2] for _, o in good]
    return ImageScan(
        root=root,
        class_names=classes,
        paths=[p for (p, _), _ in good],
        labels=labels,
        sizes=[o[0] for _, o in good],
        modes=[o[1] for _, o in good],
        corrupt=corrupt,
        ignored=ignored,
        pixels=None if any(p is None for p in kept) else kept,
        seconds=time.perf_counter() - started,
    )


def _progress_bar(total: int, root: Path):
    """A Keras progress bar over ``total`` files, after a line saying what it is."""
    import keras

    print(f"scanning {total:,} image files in {root} (each decoded once):", flush=True)
    # in a log file (no terminal), one line when done instead of a bar redrawn
    return keras.utils.Progbar(total, unit_name="file", verbose=1 if sys.stdout.isatty() else 2)


def to_array(scan: ImageScan, shape: tuple[int, int, int]) -> np.ndarray | None:
    """The kept pixels as one uint8 array of ``shape`` per image (gray copied into
    three channels where the folder has colour; other sizes resized, bilinear with
    antialiasing as ``decode_fn`` does), or None when the scan kept none."""
    if scan.pixels is None:
        return None
    height, width, channels = shape
    x = np.empty((len(scan.pixels), height, width, channels), "uint8")
    for i, pixels in enumerate(scan.pixels):
        if pixels.ndim == 2 and channels == 3:
            pixels = np.repeat(pixels[..., None], 3, axis=-1)
        if pixels.shape[:2] != (height, width):
            image = Image.fromarray(pixels)
            pixels = np.asarray(image.resize((width, height), Image.BILINEAR))
        x[i] = pixels.reshape(height, width, channels)
    return x


def image_shape(scan: ImageScan, image_size: tuple[int, int] | int | None = None):
    """``(height, width, channels)`` every image is decoded to, warning where images
    differ: mixed grayscale and colour, or sizes that differ with no ``image_size``."""
    channels = scan.channels()
    if channels == 3 and any(_is_gray(m) for m in scan.modes):
        gray = [p for p, m in zip(scan.paths, scan.modes, strict=True) if _is_gray(m)]
        warnings.warn(
            f"{scan.root}: {len(gray)} of {len(scan.paths)} images are grayscale and the "
            f"rest colour (e.g. {gray[0]}); all are read as RGB (gray copied into the three "
            "channels). Check that the gray ones belong in this data set.",
            stacklevel=2,
        )
    if image_size is not None:
        if isinstance(image_size, int):
            image_size = (image_size, image_size)
        height, width = (int(v) for v in image_size)
        if height < 1 or width < 1:
            raise DataError(f"image_size={image_size!r} must be positive (height, width).")
        return (height, width, channels)
    counts = collections.Counter(scan.sizes)
    (height, width), n = counts.most_common(1)[0]
    if len(counts) > 1:
        warnings.warn(
            f"{scan.root}: images come in {len(counts)} sizes; all are resized to the most "
            f"common, {height}x{width} ({n} of {len(scan.sizes)} images). Pass image_size "
            "(zoo: --image-size) to choose.",
            stacklevel=2,
        )
    return (height, width, channels)


def decode_fn(shape: tuple[int, int, int]):
    """A ``tf.data`` map function: file path -> uint8 image of ``shape``."""
    import tensorflow as tf

    height, width, channels = shape

    def decode(path):
        image = tf.io.decode_image(
            tf.io.read_file(path), channels=channels, expand_animations=False
        )
        image.set_shape([None, None, channels])

        def resize():
            resized = tf.image.resize(image, (height, width), antialias=True)
            return tf.cast(tf.clip_by_value(tf.round(resized), 0, 255), tf.uint8)

        same = tf.reduce_all(tf.equal(tf.shape(image)[:2], (height, width)))
        image = tf.cond(same, lambda: image, resize)
        image.set_shape(shape)
        return image

    return decode
