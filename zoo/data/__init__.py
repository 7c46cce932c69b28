"""Data: the bundled real data sets, deterministic stratified splits, and the
preprocessing layer that both the training pipeline and the exported model use.

Bundled sets come from scikit-learn's packaged files, so nothing is downloaded:
``digits`` (8x8 grayscale images, pixel values 0-16, 10 classes), ``breast_cancer``
(30 features, 2 classes), ``wine`` (13 features, 3 classes), ``iris`` (4 features,
3 classes) and ``diabetes`` (10 features, regression).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field

import numpy as np

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

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x.shape[1:])

    @property
    def num_classes(self) -> int:
        return len(self.class_names) if self.task == "classification" else 1


def load_bundled(name: str = DEFAULT_SOURCE) -> Dataset:
    """One of the bundled real data sets, raw, as arrays."""
    from sklearn import datasets

    if name not in BUNDLED:
        close = difflib.get_close_matches(str(name), BUNDLED, n=2)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise ValueError(
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


def split_indices(
    y: np.ndarray,
    *,
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
    seed: int = 42,
    stratify: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Deterministic train / validation / test indices; stratified by class when
    ``stratify`` (classification)."""
    from sklearn.model_selection import train_test_split

    for label, f in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0.0 <= f < 1.0:
            raise ValueError(f"{label}={f!r} must be in [0, 1).")
    if val_fraction + test_fraction >= 1.0:
        raise ValueError(
            f"val_fraction + test_fraction = {val_fraction + test_fraction} leaves no "
            "training data; keep their sum below 1."
        )
    index = np.arange(len(y))
    strat = y if stratify else None
    rest, test = (
        train_test_split(index, test_size=test_fraction, random_state=seed, stratify=strat)
        if test_fraction
        else (index, index[:0])
    )
    if not val_fraction:
        return rest, rest[:0], test
    strat = y[rest] if stratify else None
    train, val = train_test_split(
        rest, test_size=val_fraction / (1 - test_fraction), random_state=seed, stratify=strat
    )
    return train, val, test


def preprocessing_layer(data: Dataset, x_train: np.ndarray):
    """The layer that maps raw inputs to what the model trains on: images scaled to
    [0, 1], tabular features standardized with statistics of ``x_train`` only. The
    same layer goes inside the exported model, so serving takes raw values."""
    import keras

    if data.kind == "image":
        return keras.layers.Rescaling(1.0 / (data.pixel_max or 255.0), name="scale")
    norm = keras.layers.Normalization(axis=-1, name="standardize")
    norm.adapt(x_train)
    return norm
