"""Data: bundled real data sets and CSV files, deterministic stratified splits, and
``tf.data`` pipelines whose preprocessing layer also goes inside the exported model.

``zoo.data.load(source)`` is the one call; ``digits`` is the default source.
"""

from zoo.data.bundled import BUNDLED, DEFAULT_SOURCE, Dataset, load_bundled
from zoo.data.errors import DataError
from zoo.data.pipeline import DataInfo, Loaded, load, pipeline, preprocessing_layer, read_source
from zoo.data.splits import split_indices

__all__ = [
    "BUNDLED",
    "DEFAULT_SOURCE",
    "DataError",
    "DataInfo",
    "Dataset",
    "Loaded",
    "load",
    "load_bundled",
    "pipeline",
    "preprocessing_layer",
    "read_source",
    "split_indices",
]
