"""``load``: one call from a source to train / validation / test ``tf.data`` pipelines
of preprocessed ``(x, y)`` batches, with the metadata the rest of zoo needs.

Preprocessing (images scaled to [0, 1], tabular features standardized) is a Keras
layer fitted on the training split only; the pipelines apply it, and the export puts
the same layer inside the served model so that serving takes raw values.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from zoo.data.bundled import BUNDLED, DEFAULT_SOURCE, Dataset, load_bundled
from zoo.data.csv_source import read_csv
from zoo.data.errors import DataError
from zoo.data.splits import split_indices


@dataclass
class DataInfo:
    source: str
    task: str
    input_shape: tuple[int, ...]
    class_names: list[str]
    feature_names: list[str]
    num_examples: dict[str, int]
    label_stats: dict[str, Any] = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return len(self.class_names) if self.task == "classification" else 1


@dataclass
class Loaded:
    train: Any  # tf.data.Dataset of (x, y) batches, preprocessed
    val: Any
    test: Any
    info: DataInfo
    preprocess: Any  # the Keras layer mapping raw inputs to model inputs
    data: Dataset  # the raw arrays
    indices: dict[str, np.ndarray]  # rows of ``data`` in each split

    def arrays(self, split: str, preprocessed: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """``(x, y)`` of one split as arrays, preprocessed or raw."""
        index = self.indices[split]
        x = self.data.x[index]
        if preprocessed:
            import keras

            x = keras.ops.convert_to_numpy(self.preprocess(x))
        return x, self.data.y[index]


def read_source(source: str, *, label: str | None = None, task: str | None = None) -> Dataset:
    """Raw arrays of a bundled data set name or a CSV file path."""
    source = str(source)
    if source in BUNDLED:
        return load_bundled(source)
    path = Path(source)
    if path.suffix.lower() == ".csv":
        x, y, features, classes, task = read_csv(path, label=label, task=task)
        return Dataset(path.stem, x, y, task, class_names=classes, feature_names=features)
    if path.exists():
        raise DataError(
            f"{source}: this kind of source is not read yet; use a bundled data set "
            f"({', '.join(BUNDLED)}) or a .csv file."
        )
    return load_bundled(source)  # raises with the close matches among bundled names


def preprocessing_layer(data: Dataset, x_train: np.ndarray):
    """The layer that maps raw inputs to what the model trains on: images scaled to
    [0, 1], tabular features standardized with statistics of ``x_train`` only."""
    import keras

    if data.kind == "image":
        return keras.layers.Rescaling(1.0 / (data.pixel_max or 255.0), name="scale")
    std = x_train.std(axis=0)
    if np.any(std == 0):
        constant = [
            data.feature_names[i] if data.feature_names else str(i)
            for i in np.flatnonzero(std == 0)
        ]
        warnings.warn(
            f"{data.name}: feature(s) {', '.join(constant)} are constant on the training "
            "split; they carry no information (drop them).",
            stacklevel=3,
        )
    norm = keras.layers.Normalization(axis=-1, name="standardize")
    norm.adapt(x_train)
    return norm


def pipeline(x, y, preprocess, *, batch_size: int, shuffle: bool, seed: int):
    """Raw arrays -> cached, (shuffled), batched, preprocessed in parallel, prefetched."""
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((x, y)).cache()
    if shuffle:
        ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size)
    ds = ds.map(lambda a, b: (preprocess(a), b), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


def load(
    source: str = DEFAULT_SOURCE,
    *,
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
    batch_size: int = 32,
    seed: int = 42,
    label: str | None = None,
    task: str | None = None,
) -> Loaded:
    """Load ``source`` (a bundled name or a CSV path) into train / validation / test
    pipelines. Splits are stratified for classification and fixed by ``seed``; the
    preprocessing statistics come from the training split alone."""
    if int(batch_size) < 1:
        raise DataError(f"batch_size={batch_size!r} must be >= 1.")
    data = read_source(source, label=label, task=task)
    classification = data.task == "classification"
    if classification:
        counts = np.bincount(data.y, minlength=data.num_classes)
        if np.count_nonzero(counts) < 2:
            raise DataError(
                f"{source}: every example has the same label ({data.class_names[0]!r}); "
                "classification needs at least two classes."
            )
        too_few = [data.class_names[i] for i in np.flatnonzero(counts < 3)]
        if too_few and (val_fraction or test_fraction):
            raise DataError(
                f"{source}: class(es) {', '.join(too_few)} have fewer than 3 examples, too few "
                "for a stratified train / validation / test split; add examples or drop them."
            )
    train, val, test = split_indices(
        data.y,
        val_fraction=val_fraction,
        test_fraction=test_fraction,
        seed=seed,
        stratify=classification,
    )
    preprocess = preprocessing_layer(data, data.x[train])
    indices = {"train": train, "val": val, "test": test}
    stats: dict[str, Any] = {}
    for split, index in indices.items():
        y = data.y[index]
        if classification:
            stats[split] = np.bincount(y, minlength=data.num_classes).tolist()
        else:
            stats[split] = {
                "mean": float(y.mean()) if len(y) else None,
                "std": float(y.std()) if len(y) else None,
            }
    info = DataInfo(
        source=str(source),
        task=data.task,
        input_shape=data.input_shape,
        class_names=data.class_names,
        feature_names=data.feature_names,
        num_examples={k: len(v) for k, v in indices.items()},
        label_stats={"counts" if classification else "target": stats},
    )
    sets = {
        split: pipeline(
            data.x[index],
            data.y[index],
            preprocess,
            batch_size=batch_size,
            shuffle=split == "train",
            seed=seed,
        )
        for split, index in indices.items()
    }
    return Loaded(sets["train"], sets["val"], sets["test"], info, preprocess, data, indices)
