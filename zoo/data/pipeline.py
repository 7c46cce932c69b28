"""``load``: one call from a source to train / validation / test ``tf.data`` pipelines
of preprocessed ``(x, y)`` batches, with the metadata the rest of zoo needs.

Preprocessing (images scaled to [0, 1], tabular features standardized) is a Keras
layer fitted on the training split only; the pipelines apply it, and the export puts
the same layer inside the served model so that serving takes raw values.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from zoo.data.bundled import BUNDLED, DEFAULT_SOURCE, Dataset, load_bundled
from zoo.data.csv_source import read_csv
from zoo.data.errors import DataError
from zoo.data.images import decode_fn, image_shape, scan_image_folder, to_array
from zoo.data.shuffle import shuffled
from zoo.data.sources import check_source
from zoo.data.splits import fold_indices, split_indices
from zoo.data.tfds_source import PREFIX as TFDS_PREFIX
from zoo.data.tfds_source import read_tfds
from zoo.weights import FIXED_STATISTICS  # the inputs published weights expect


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
    _raw: dict = field(default_factory=dict, repr=False)  # decoded splits, kept
    batching: tuple = (None, None)  # (batch size, augmentation) of the pipelines

    def with_batches(
        self, batch_size: int, augment=None, seed: int = 42, cache: bool | str = True
    ) -> Loaded:
        """The same data, splits and preprocessing in pipelines of ``batch_size``, the
        training one augmented as ``augment`` says (see ``augmentation``)."""
        layer = augmentation(augment, seed)
        sets = {
            split: pipeline(
                self.data,
                index,
                self.preprocess,
                batch_size=batch_size,
                shuffle=split == "train",
                seed=seed,
                cache=cache,
                augment=layer if split == "train" else None,
            )
            for split, index in self.indices.items()
        }
        return replace(
            self,
            train=sets["train"],
            val=sets["val"],
            test=sets["test"],
            batching=(batch_size, augment),
        )

    def arrays(self, split: str, preprocessed: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """``(x, y)`` of one split as arrays, preprocessed or raw. A split read from
        image files is decoded once and kept (up to ``KEEP_DECODED_BYTES`` in all), as
        the evaluation, the monitors and the export each ask for it."""
        if split in self._raw:
            x, y = self._raw[split]
        else:
            x, y = materialize(self.data, self.indices[split])
            kept = sum(a.nbytes for a, _ in self._raw.values())
            if self.data.x is None and kept + x.nbytes <= KEEP_DECODED_BYTES:
                self._raw[split] = (x, y)
        if preprocessed:
            import keras

            x = keras.ops.convert_to_numpy(self.preprocess(x))
        return x, y


#: The most decoded image bytes ``Loaded.arrays`` keeps in memory (2 GiB).
KEEP_DECODED_BYTES = 2 << 30


def materialize(data: Dataset, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The raw ``(x, y)`` of rows ``index`` in memory, decoding files if need be (in
    parallel, a batch at a time)."""
    if data.x is not None:
        return data.x[index], data.y[index]
    x = np.zeros((len(index), *data.input_shape), "uint8")
    at = 0
    for images, _ in raw_examples(data, index).batch(1024).as_numpy_iterator():
        x[at : at + len(images)] = images
        at += len(images)
    return x, data.y[index]


def as_arrays(data, limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(x, y)`` arrays from ``(x, y)`` or an iterable of batches (a ``tf.data``
    dataset, an iterator; a third element, sample weights, is dropped), at most
    ``limit`` examples."""
    if isinstance(data, tuple | list) and (
        len(data) == 2 or len(data) == 3 and not isinstance(data[0], tuple | list | dict)
    ):  # (x, y) or (x, y, sample_weight) arrays
        x, y = (np.asarray(v) for v in data[:2])
        return (x[:limit], y[:limit]) if limit else (x, y)
    xs, ys, n = [], [], 0
    for batch in data:
        xb, yb = batch[0], batch[1]
        xs.append(np.asarray(xb))
        ys.append(np.asarray(yb))
        n += len(xs[-1])
        if limit and n >= limit:
            break
    if not xs:
        raise ValueError("The data has no batches; nothing to check.")
    x, y = np.concatenate(xs), np.concatenate(ys)
    return (x[:limit], y[:limit]) if limit else (x, y)


def read_source(
    source: str | Path,
    *,
    label: str | None = None,
    task: str | None = None,
    data_dir: str | Path | None = None,
    image_size: tuple[int, int] | int | None = None,
    allow_missing: bool = False,
) -> Dataset:
    """The raw examples of a source: a bundled name, ``tfds:<name>``, a folder of
    class folders of images, or a ``.csv`` file."""
    source = check_source(source)
    if source in BUNDLED:
        return load_bundled(source)
    if source.startswith(TFDS_PREFIX):
        return read_tfds(source, data_dir)
    path = Path(source)
    if path.suffix.lower() == ".csv":
        x, y, features, classes, task = read_csv(
            path, label=label, task=task, allow_missing=allow_missing
        )
        return Dataset(path.stem, x, y, task, class_names=classes, feature_names=features)
    if path.is_dir():
        scan = scan_image_folder(path)
        shape = image_shape(scan, image_size)
        x = to_array(scan, shape)
        scan.pixels = None  # held once, in x
        return Dataset(
            path.name or str(path),
            x,
            scan.labels,
            "classification",
            class_names=scan.class_names,
            kind="image",
            pixel_max=255.0,
            files=np.array(scan.paths),
            file_shape=shape,
            scan=scan,
        )
    raise DataError(f"{source}: not a source zoo reads")  # check_source said why


NORMALIZATIONS = {
    "image": ("scale", "per_channel", "imagenet", "caffe"),
    "tabular": ("standardize", "none"),
}


def preprocessing_layer(
    data: Dataset, train_index: np.ndarray, normalize: str = "auto", *, batch_size: int = 256
):
    """The layer that maps raw inputs to what the model trains on, fitted on the
    training rows only. Images: scaled to [0, 1] (``"scale"``), then optionally
    standardized per channel (``"per_channel"``) or with the fixed statistics published
    ImageNet weights expect (``"imagenet"``, ``"caffe"``). Tabular features: standardized
    (``"standardize"``) or passed through (``"none"``)."""
    import keras

    choices = NORMALIZATIONS[data.kind]
    if normalize == "auto":
        normalize = choices[0]
    if normalize not in choices:
        raise DataError(
            f"normalize={normalize!r} does not apply to {data.kind} data; use one of "
            f"{', '.join(('auto',) + choices)}."
        )
    if data.kind == "image":
        scale = keras.layers.Rescaling(1.0 / (data.pixel_max or 255.0), name="scale")
        if normalize == "scale":
            return scale
        if normalize in FIXED_STATISTICS:
            shape = data.input_shape
            if shape[-1] != 3:
                raise DataError(
                    f"normalize={normalize!r} is for RGB images (published ImageNet weights); "
                    f"{data.name} has {shape[-1]} channel(s)."
                )
            mean, variance = FIXED_STATISTICS[normalize]
            fixed = keras.layers.Normalization(mean=mean, variance=variance, name=normalize)
            fixed.build((None, *shape))  # here, not inside the pipeline's graph
            return keras.Sequential([scale, fixed], name="preprocess")
        norm = keras.layers.Normalization(axis=-1, name="per_channel")
        norm.adapt(raw_examples(data, train_index).batch(batch_size).map(lambda x, y: scale(x)))
        return keras.Sequential([scale, norm], name="preprocess")
    if normalize == "none":
        return keras.layers.Identity(name="preprocess")
    x_train = data.x[train_index]
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


AUGMENTATIONS = ("flip", "translate", "rotate", "zoom", "contrast")


def augmentation(spec: str | list[str] | tuple[str, ...] | None, seed: int = 42):
    """Keras preprocessing layers for ``spec``, a comma-separated string or a list of
    ``flip`` (horizontal), ``translate`` (10%), ``rotate`` (+-18 degrees), ``zoom``
    (10%), ``contrast`` (20%); None when ``spec`` is empty. Geometric changes keep the
    class label. Off by default, as the recipe says: add it once the model overfits.
    Horizontal flips are wrong for data whose meaning depends on handedness (digits,
    text)."""
    import keras
    from keras import layers

    if not spec:
        return None
    names = [s.strip() for s in spec.split(",")] if isinstance(spec, str) else list(spec)
    unknown = [n for n in names if n not in AUGMENTATIONS]
    if unknown:
        raise DataError(
            f"augment: unknown {', '.join(map(repr, unknown))}; choose from "
            f"{', '.join(AUGMENTATIONS)}."
        )
    make = {
        "flip": lambda s: layers.RandomFlip("horizontal", seed=s, name="flip"),
        "translate": lambda s: layers.RandomTranslation(
            0.1, 0.1, fill_mode="nearest", seed=s, name="translate"
        ),
        "rotate": lambda s: layers.RandomRotation(0.05, fill_mode="nearest", seed=s, name="rotate"),
        "zoom": lambda s: layers.RandomZoom(0.1, fill_mode="nearest", seed=s, name="zoom"),
        "contrast": lambda s: layers.RandomContrast(0.2, seed=s, name="contrast"),
    }
    return keras.Sequential([make[n](seed + i) for i, n in enumerate(names)], name="augment")


def raw_examples(data: Dataset, index: np.ndarray, *, shuffle_seed: int | None = None):
    """Unbatched raw ``(x, y)`` examples of the rows ``index``: sliced from memory, or
    read and decoded from files in parallel (shuffled first when ``shuffle_seed``, so
    that only file names are shuffled)."""
    import tensorflow as tf

    if data.x is not None:
        ds = tf.data.Dataset.from_tensor_slices((data.x[index], data.y[index]))
        return shuffled(ds, len(index), shuffle_seed) if shuffle_seed is not None else ds
    ds = tf.data.Dataset.from_tensor_slices((data.files[index], data.y[index]))
    if shuffle_seed is not None:
        ds = shuffled(ds, len(index), shuffle_seed)
    decode = decode_fn(data.file_shape)
    return ds.map(lambda p, y: (decode(p), y), num_parallel_calls=tf.data.AUTOTUNE)


def pipeline(
    data: Dataset,
    index: np.ndarray,
    preprocess,
    *,
    batch_size: int,
    shuffle: bool,
    seed: int,
    cache: bool | str = True,
    augment=None,
):
    """Rows ``index`` of ``data`` -> (decoded, cached,) shuffled, batched, augmented and
    preprocessed in parallel, prefetched. Images from files are cached after decoding
    (in memory, or in the file ``cache`` names); ``cache=False`` decodes every epoch."""
    import tensorflow as tf

    cached = data.x is None and cache is not False
    late_shuffle = shuffle and (cached or data.x is not None)
    ds = raw_examples(data, index, shuffle_seed=seed if shuffle and not late_shuffle else None)
    if cached:
        ds = ds.cache(cache if isinstance(cache, str) else "")
    if late_shuffle:
        ds = shuffled(ds, len(index), seed)
    ds = ds.batch(batch_size)
    if augment is not None:
        ds = ds.map(
            lambda a, b: (preprocess(augment(a, training=True)), b),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
    else:
        ds = ds.map(lambda a, b: (preprocess(a), b), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


def make_splits(
    data: Dataset,
    val_fraction: float,
    test_fraction: float,
    seed: int,
    *,
    source: str = "",
    fold: tuple[int, int] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Train / validation / test rows of ``data``: stratified for classification,
    fixed by ``seed``; a source's own test split (TFDS) stays the test split. With
    ``fold=(k, n)`` the test rows are fold ``k`` of a shuffled ``n``-fold split (for
    cross-validation) and ``test_fraction`` is not used."""
    source = source or data.name
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
    if fold is not None:
        if data.test_index is not None:
            raise DataError(
                f"{source} has its own test split; cross-validation folds (fold={fold!r}) "
                "apply to sources without one."
            )
        return fold_indices(
            data.y, tuple(fold), val_fraction=val_fraction, seed=seed, stratify=classification
        )
    if data.test_index is not None:
        rest = np.setdiff1d(np.arange(len(data)), data.test_index)
        train, val, _ = split_indices(
            data.y[rest],
            val_fraction=val_fraction,
            test_fraction=0.0,
            seed=seed,
            stratify=classification,
        )
        train, val, test = rest[train], rest[val], data.test_index
    else:
        train, val, test = split_indices(
            data.y,
            val_fraction=val_fraction,
            test_fraction=test_fraction,
            seed=seed,
            stratify=classification,
        )
    return train, val, test


def load(
    source: str | Path = DEFAULT_SOURCE,
    *,
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
    batch_size: int = 32,
    seed: int = 42,
    label: str | None = None,
    task: str | None = None,
    data_dir: str | Path | None = None,
    image_size: tuple[int, int] | int | None = None,
    normalize: str = "auto",
    augment: str | list[str] | None = None,
    cache: bool | str = True,
    fold: tuple[int, int] | None = None,
) -> Loaded:
    """Load ``source`` into train / validation / test pipelines of preprocessed batches.

    ``source``: a bundled name (``digits``, the default; ``breast_cancer``, ``wine``,
    ``iris``, ``diabetes``), ``tfds:<name>`` prepared in ``data_dir``, a folder with one
    sub-folder of images per class (decoded to ``image_size`` if given), or a ``.csv``
    file with a ``label`` column. Splits are stratified for classification and fixed by
    ``seed``; a TFDS test split stays the test split. The preprocessing statistics come
    from the training split alone (see ``preprocessing_layer`` for ``normalize``).
    ``augment`` (see ``augmentation``) applies to the training pipeline only.
    ``fold=(k, n)``: the test split is fold ``k`` of ``n`` (k-fold cross-validation).
    """
    if int(batch_size) < 1:
        raise DataError(f"batch_size={batch_size!r} must be >= 1.")
    data = read_source(source, label=label, task=task, data_dir=data_dir, image_size=image_size)
    augment_layer = augmentation(augment, seed)
    if augment_layer is not None and data.kind != "image":
        raise DataError(f"augment={augment!r}: augmentation applies to images only.")
    classification = data.task == "classification"
    train, val, test = make_splits(
        data, val_fraction, test_fraction, seed, source=source, fold=fold
    )
    preprocess = preprocessing_layer(data, train, normalize)
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
    loaded = Loaded(None, None, None, info, preprocess, data, indices)
    return loaded.with_batches(batch_size, augment, seed, cache)
