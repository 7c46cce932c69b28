"""The bundled real data sets, read from scikit-learn's packaged files (no download):
``digits`` (8x8 grayscale images, pixel values 0-16, 10 classes), ``breast_cancer``
(30 features, 2 classes), ``wine`` (13 features, 3 classes), ``iris`` (4 features,
3 classes) and ``diabetes`` (10 features, regression).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from zoo.data.errors import DataError

BUNDLED = ("digits", "breast_cancer", "wine", "iris", "diabetes")
DEFAULT_SOURCE = "digits"


@dataclass
class Dataset:
    """Arrays of one data set as loaded (raw values), with what describes them."""

    name: str
    x: np.ndarray
    y: np.ndarray
    task: str  # "classification" or "regression"
    class_names: list[str] = field(default_factory=list)
    feature_names: list[str] = field(default_factory=list)
    kind: str = "tabular"  # "image" or "tabular"
    pixel_max: float | None = None  # for images: the largest raw pixel value
    # Rows that form the source's own test split (a TFDS "test" split), if it has one.
    test_index: np.ndarray | None = None
    # Image folders: ``files`` holds one path per example and ``file_shape`` what each
    # is decoded to; ``x`` holds the pixels when the scan kept them, else is None and
    # the pipeline decodes the files; ``scan`` says what was found.
    files: np.ndarray | None = None
    file_shape: tuple[int, ...] | None = None
    scan: Any = None

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.file_shape) if self.files is not None else tuple(self.x.shape[1:])

    def __len__(self) -> int:
        return len(self.y)

    @property
    def num_classes(self) -> int:
        return len(self.class_names) if self.task == "classification" else 1


def load_bundled(name: str = DEFAULT_SOURCE) -> Dataset:
    """One of the bundled real data sets, raw, as arrays."""
    from sklearn import datasets

    if name not in BUNDLED:
        close = difflib.get_close_matches(str(name), BUNDLED, n=2)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise DataError(
            f"Unknown data set {name!r}.{hint} Bundled data sets: {', '.join(BUNDLED)}."
        )
    raw = getattr(datasets, f"load_{name}")()
    if name == "digits":
        return Dataset(
            name,
            raw.images.astype("float32")[..., None],
            raw.target.astype("int64"),
            "classification",
            class_names=[str(c) for c in raw.target_names],
            kind="image",
            pixel_max=16.0,
        )
    if name == "diabetes":
        return Dataset(
            name,
            raw.data.astype("float32"),
            raw.target.astype("float32"),
            "regression",
            feature_names=list(raw.feature_names),
        )
    return Dataset(
        name,
        raw.data.astype("float32"),
        raw.target.astype("int64"),
        "classification",
        class_names=[str(c) for c in raw.target_names],
        feature_names=list(raw.feature_names),
    )
