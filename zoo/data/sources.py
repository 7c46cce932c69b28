"""Whether a data source names something zoo reads, checked without reading it:
what the CLI asks before TensorFlow loads, and ``read_source`` before it reads."""

from __future__ import annotations

import difflib
from pathlib import Path

from zoo.data.bundled import BUNDLED
from zoo.data.errors import DataError
from zoo.data.tfds_source import PREFIX as TFDS_PREFIX


def check_source(source: str | Path) -> str:
    """``source`` as text if it names something ``read_source`` can read, else a
    ``DataError`` naming it and what to do (a close bundled name, the path to check);
    reads nothing, imports nothing heavy: the CLI calls it before TensorFlow loads.
    A TFDS name is checked when it is read (that needs tensorflow_datasets)."""
    source = str(source)
    if source in BUNDLED or source.startswith(TFDS_PREFIX):
        return source
    path = Path(source)
    if path.is_dir() or (path.suffix.lower() == ".csv" and path.is_file()):
        return source
    if path.exists():
        raise DataError(
            f"{source}: a file zoo cannot read. Sources are a bundled data set "
            f"({', '.join(BUNDLED)}), tfds:<name>, a folder of class folders of images, "
            "or a .csv file."
        )
    if any(sep in source for sep in ("/", "\\")) or path.suffix:
        raise DataError(f"{source} does not exist; check the path.")
    close = difflib.get_close_matches(source, BUNDLED, n=2)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    raise DataError(
        f"Unknown data set {source!r}.{hint} Bundled data sets: {', '.join(BUNDLED)}; "
        "or give a folder of class folders of images, a .csv file or tfds:<name>."
    )
