"""``zoo predict RUN INPUTS``: a finished run's exported model (``RUN/export``, the
SavedModel that takes raw values and holds the preprocessing) on new inputs, written
as CSV: a CSV of feature rows (``-`` reads it from stdin), an image file, or a folder
of images. Each row gets its class and one probability per class (or the predicted
value for regression). Nothing is trained or written into the run folder.
"""

from __future__ import annotations

import csv
import io
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

from zoo.config import read_config
from zoo.data import DataError, read_source
from zoo.data.images import IMAGE_EXTENSIONS

#: Rows predicted per call; a progress line on stderr from this many rows up.
CHUNK = 1024


def read_rows(source: str, feature_names: list[str], n_features: int) -> tuple[list, np.ndarray]:
    """``(row names, features)`` from a CSV (``-``: stdin). With a header naming the
    training features, those columns in training order (others, a label, ignored);
    without one, exactly ``n_features`` numeric columns."""
    text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8-sig")
    rows = [r for r in csv.reader(io.StringIO(text)) if any(c.strip() for c in r)]
    if not rows:
        raise DataError(f"{source}: no rows to predict.")
    header = [h.strip() for h in rows[0]]
    if feature_names and set(feature_names) <= set(header):
        columns = [header.index(name) for name in feature_names]
        body = rows[1:]
    else:
        try:
            [float(c) for c in rows[0]]
            body = rows
        except ValueError:
            body = rows[1:]  # a header, but not the training features'
            missing = sorted(set(feature_names) - set(header))
            if len(header) != n_features:
                raise DataError(
                    f"{source}: its columns ({', '.join(header)}) are not the training "
                    f"features; missing {', '.join(missing[:5])}."
                ) from None
        columns = list(range(n_features))
        if body and len(body[0]) != n_features:
            raise DataError(
                f"{source}: rows of {len(body[0])} values; the model takes {n_features} "
                "features (give a header with their names to pick them out)."
            )
    try:
        x = np.array([[float(r[c]) for c in columns] for r in body], dtype="float32")
    except (ValueError, IndexError) as err:
        raise DataError(f"{source}: a row that is not {n_features} numbers ({err}).") from None
    return [str(i) for i in range(len(x))], x


def read_images(source: str, shape: tuple[int, ...]) -> tuple[list, np.ndarray]:
    """``(file names, pixels)``: an image file or every image under a folder, decoded
    to the model's height, width and channels as raw 0-255 values."""
    path = Path(source)
    files = (
        sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS)
        if path.is_dir()
        else [path]
    )
    if not files:
        raise DataError(f"{source}: no image files ({', '.join(IMAGE_EXTENSIONS)}).")
    height, width, channels = shape
    mode = "L" if channels == 1 else "RGB"
    pixels = []
    for f in files:
        with Image.open(f) as image:
            image = image.convert(mode).resize((width, height))
            pixels.append(np.asarray(image, dtype="float32").reshape(shape))
    return [str(f) for f in files], np.stack(pixels)


def predict_run(run_dir, source: str, out=None, say=None) -> int:
    """Predict ``source`` with ``run_dir``'s export; CSV to ``out`` (a path, else
    stdout). Returns the rows written."""
    import tensorflow as tf

    run = Path(run_dir)
    export = run / "export"
    if not (export / "saved_model.pb").exists():
        raise DataError(f"{run} has no export/ (a SavedModel): run `zoo export {run}` first.")
    config = read_config(run)  # the training data read again for its shape and names only
    info = read_source(config.data, label=config.label, data_dir=config.data_dir,
                       image_size=config.image_size)  # fmt: skip
    shape = tuple(info.input_shape)
    if info.kind == "image" and source != "-" and not source.lower().endswith(".csv"):
        names, x = read_images(source, shape)
    else:
        names, x = read_rows(source, list(info.feature_names), int(np.prod(shape)))
        x = x.reshape((len(x), *shape))
    serve = tf.saved_model.load(str(export)).signatures["serving_default"]
    outputs: dict[str, list] = {}
    start = time.perf_counter()
    for i in range(0, len(x), CHUNK):
        got = serve(inputs=tf.constant(x[i : i + CHUNK]))
        for key, value in got.items():
            outputs.setdefault(key, []).append(value.numpy())
        done = min(i + CHUNK, len(x))
        if say and len(x) >= CHUNK:
            rate = done / max(time.perf_counter() - start, 1e-9)
            say(f"predicted {done:,}/{len(x):,} ({(len(x) - done) / rate:.0f}s left)")
    joined = {k: np.concatenate(v) for k, v in outputs.items()}
    key = "file" if names and not names[0].isdigit() else "row"
    if info.task == "classification":
        classes = list(info.class_names)
        header = [key, "class", *(f"p_{c}" for c in classes)]
        ids, probs = joined["class_id"].reshape(-1), joined["probabilities"]
        table = [[n, classes[int(c)], *(f"{p:.6g}" for p in row)]
                 for n, c, row in zip(names, ids, probs, strict=True)]  # fmt: skip
    else:
        header = [key, "prediction"]
        values = joined["prediction"].reshape(len(names), -1)[:, 0]
        table = [[n, f"{v:.6g}"] for n, v in zip(names, values, strict=True)]
    stream = open(out, "w", newline="") if out else sys.stdout  # noqa: SIM115
    try:
        writer = csv.writer(stream)
        writer.writerow(header)
        writer.writerows(table)
    finally:
        if out:
            stream.close()
    return len(table)
