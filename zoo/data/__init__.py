"""Data: one ``load`` call for bundled real data sets, TFDS names, image folders and
CSV files; deterministic stratified splits; ``tf.data`` pipelines whose preprocessing
layer also goes inside the exported model; ``show_batch`` to see what the model gets;
and ``inspect_data``, the data report behind ``zoo inspect``.

``digits`` is the default source everywhere.
"""

from zoo.data.bundled import BUNDLED, DEFAULT_SOURCE, Dataset, load_bundled
from zoo.data.errors import DataError
from zoo.data.images import ImageScan, scan_image_folder
from zoo.data.pipeline import (
    AUGMENTATIONS,
    DataInfo,
    Loaded,
    as_arrays,
    augmentation,
    load,
    make_splits,
    materialize,
    pipeline,
    preprocessing_layer,
    raw_examples,
    read_source,
)
from zoo.data.report import DataReport, Finding, inspect_data
from zoo.data.show import show_batch
from zoo.data.sources import check_source
from zoo.data.splits import split_indices
from zoo.data.tfds_source import read_tfds

__all__ = [
    "AUGMENTATIONS",
    "BUNDLED",
    "DEFAULT_SOURCE",
    "DataError",
    "DataInfo",
    "DataReport",
    "Dataset",
    "Finding",
    "ImageScan",
    "Loaded",
    "as_arrays",
    "augmentation",
    "check_source",
    "inspect_data",
    "load",
    "load_bundled",
    "make_splits",
    "materialize",
    "pipeline",
    "preprocessing_layer",
    "raw_examples",
    "read_source",
    "read_tfds",
    "scan_image_folder",
    "show_batch",
    "split_indices",
]
