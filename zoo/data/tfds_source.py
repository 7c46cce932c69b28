"""TensorFlow Datasets by name (``tfds:mnist``, ``tfds:cifar10``, ``tfds:name/config``),
read from a local data folder with no network.

The data folder is ``data_dir``, else ``$TFDS_DATA_DIR``, else TFDS' default
(``~/tensorflow_datasets``). A data set that is not prepared there gets an error saying
how to prepare it; nothing is downloaded at run time.
"""

from __future__ import annotations

import difflib
import os

import numpy as np

from zoo.data.bundled import Dataset
from zoo.data.errors import DataError

PREFIX = "tfds:"


def _tfds():
    import tensorflow_datasets as tfds
    from tensorflow_datasets.core.utils import gcs_utils

    gcs_utils._is_gcs_disabled = True  # never look for data on cloud storage
    return tfds


def tfds_data_dir(data_dir: str | os.PathLike | None = None) -> str:
    if data_dir:
        return os.fspath(data_dir)
    if os.environ.get("TFDS_DATA_DIR"):
        return os.environ["TFDS_DATA_DIR"]
    return os.path.expanduser(os.path.join("~", "tensorflow_datasets"))


def read_tfds(source: str, data_dir: str | os.PathLike | None = None) -> Dataset:
    """All splits of a prepared TFDS data set as arrays; the rows of its ``test``
    split, when it has one, are kept as the test split (``Dataset.test_index``)."""
    name = (source[len(PREFIX) :] if source.startswith(PREFIX) else source).strip()
    if not name:
        raise DataError(
            f"{source!r}: name the TFDS data set after {PREFIX} (e.g. tfds:mnist, "
            "tfds:cifar10, tfds:name/config)."
        )
    tfds = _tfds()
    data_dir = tfds_data_dir(data_dir)
    prepare = (
        f"Prepare it on a machine with network access with `tfds build {name} "
        f"--data_dir {data_dir}` (or copy a prepared {name.split(':')[0]} folder into "
        f"{data_dir}); zoo never downloads data. Pass data_dir (zoo: --data-dir) or set "
        "TFDS_DATA_DIR to read another folder."
    )
    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except tfds.core.registered.DatasetNotFoundError:
        close = difflib.get_close_matches(name, tfds.list_builders(with_community_datasets=False))
        hint = f" Did you mean {', '.join(PREFIX + c for c in close)}?" if close else ""
        raise DataError(f"{PREFIX}{name}: no such TFDS data set.{hint}") from None
    if not builder.is_prepared():
        raise DataError(f"{PREFIX}{name} is not prepared in {data_dir}. {prepare}")
    info = builder.info
    if not info.supervised_keys or len(info.supervised_keys) != 2:
        raise DataError(
            f"{PREFIX}{name} has no (input, label) supervised keys; zoo reads supervised "
            "data sets only. Export it to an image folder or a CSV file instead."
        )
    x_key, y_key = info.supervised_keys
    x_feature, y_feature = info.features[x_key], info.features[y_key]
    is_image = isinstance(x_feature, tfds.features.Image)
    classification = isinstance(y_feature, tfds.features.ClassLabel)
    if is_image and None in x_feature.shape[:2]:
        raise DataError(
            f"{PREFIX}{name}: images of varying size are not read from TFDS yet; export "
            "them to an image folder and pass image_size (zoo: --image-size)."
        )
    xs, ys, test_rows, start = [], [], [], 0
    for split in sorted(info.splits.keys()):
        x, y = tfds.as_numpy(builder.as_dataset(split=split, as_supervised=True, batch_size=-1))
        if split == "test":
            test_rows = range(start, start + len(y))
        xs.append(x)
        ys.append(y)
        start += len(y)
    x, y = np.concatenate(xs), np.concatenate(ys)
    if not is_image and (x.ndim != 2 or not np.issubdtype(x.dtype, np.number)):
        raise DataError(
            f"{PREFIX}{name}: inputs of shape {x.shape[1:]} and type {x.dtype} are neither "
            "images nor a vector of numeric features; zoo cannot read them yet."
        )
    return Dataset(
        name=name.replace("/", "-").replace(":", "-"),
        x=x if is_image else x.astype("float32"),
        y=y.astype("int64") if classification else y.astype("float32"),
        task="classification" if classification else "regression",
        class_names=list(y_feature.names) if classification else [],
        kind="image" if is_image else "tabular",
        pixel_max=255.0 if is_image else None,
        test_index=np.asarray(test_rows, "int64") if len(test_rows) else None,
    )
