"""Reading a CSV file with a header row and a named label column into arrays."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from zoo.data.errors import DataError

MAX_CLASSES_FROM_INTEGERS = 50


SEPARATORS = {",": "commas", ";": "semicolons", "\t": "tabs", "|": "bars"}


def delimiter(text: str) -> str:
    """The field separator of a CSV text: the one of ``,`` ``;`` tab ``|`` that splits
    the header and the next lines into the same number of fields, more than one
    (commas first on a tie). A semicolon-separated file (the usual export where the
    decimal mark is a comma) is read as it is."""
    lines = [line for line in text.splitlines()[:20] if line.strip()]
    best, fields = ",", 1
    for sep in SEPARATORS:
        counts = {len(next(csv.reader([line], delimiter=sep))) for line in lines}
        if len(counts) == 1 and (n := counts.pop()) > fields:
            best, fields = sep, n
    return best


def read_csv(
    path: str | Path,
    label: str | None = None,
    task: str | None = None,
    *,
    allow_missing: bool = False,
):
    """Return ``(x, y, feature_names, class_names, task)`` from a CSV file.

    Every column but ``label`` must be numeric with no missing value (unless
    ``allow_missing``: they become NaN); an error names the column, the row and the
    value otherwise. String labels, or at most 50 distinct
    integer labels, make a classification task (override with ``task``).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"CSV file {path} does not exist; check the path.")
    # utf-8-sig: a byte-order mark (Excel writes one) is not part of the first name
    with path.open(newline="", encoding="utf-8-sig") as f:
        text = f.read()
    sep = delimiter(text)
    rows = list(csv.reader(text.splitlines(), delimiter=sep))
    rows = [r for r in rows if any(cell.strip() for cell in r)]
    if len(rows) < 2:
        raise DataError(f"CSV file {path} has no data rows under its header.")
    header = [h.strip() for h in rows[0]]
    repeated = sorted({h for h in header if header.count(h) > 1})
    if repeated:
        raise DataError(
            f"CSV file {path} has more than one column named {', '.join(map(repr, repeated))}; "
            "a second label column would be read as a feature and leak the answer. Rename "
            "or drop the copies."
        )
    if label is None:
        label = "label" if "label" in header else None
    if label is None or label not in header:
        raise DataError(
            f"CSV file {path} has no label column {label or 'label'!r}; its columns "
            f"(separated by {SEPARATORS[sep]}) are {', '.join(map(repr, header))}. Name the "
            "label column (zoo: --label NAME, zoo.data.load(..., label=NAME))."
        )
    li = header.index(label)
    features = [h for i, h in enumerate(header) if i != li]
    x = np.empty((len(rows) - 1, len(features)), "float32")
    labels = []
    for r, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise DataError(
                f"CSV file {path}, line {r}: {len(row)} fields where the header has "
                f"{len(header)}; fix that line."
            )
        labels.append(row[li].strip())
        values = [cell for i, cell in enumerate(row) if i != li]
        for j, (name, cell) in enumerate(zip(features, values, strict=True)):
            cell = cell.strip()
            try:
                value = float(cell)
            except ValueError:
                value = None
            if value is None and cell.lower() not in ("", "nan", "na", "null", "none", "?"):
                raise DataError(
                    f"CSV file {path}, column {name!r}, line {r}: {cell!r} is not a number. "
                    "Encode text columns as numbers first (one-hot or ordinal), or drop them."
                )
            if (value is None or math.isnan(value)) and allow_missing:
                value = math.nan
            elif value is None or math.isnan(value):
                missing = sum(
                    1
                    for row2 in rows[1:]
                    if row2[header.index(name)].strip().lower()
                    in ("", "nan", "na", "null", "none", "?")
                )
                raise DataError(
                    f"CSV file {path}, column {name!r}: {missing} missing value(s), the first "
                    f"on line {r}. Fill them in (e.g. with the column's training median) "
                    "or drop those rows or that column."
                )
            x[r - 2, j] = value
    y, class_names, task = _labels(labels, task, path, label)
    return x, y, features, class_names, task


def _labels(labels: list[str], task: str | None, path: Path, column: str):
    if any(v.lower() in ("", "nan", "na", "null", "none", "?") for v in labels):
        raise DataError(f"CSV file {path}: the label column {column!r} has missing values.")
    try:
        numbers = np.array([float(v) for v in labels])
    except ValueError:
        numbers = None
    if task is None:
        integral = numbers is not None and np.all(numbers == np.round(numbers))
        few = numbers is not None and len(np.unique(numbers)) <= MAX_CLASSES_FROM_INTEGERS
        task = "classification" if numbers is None or (integral and few) else "regression"
    if task == "regression":
        if numbers is None:
            raise DataError(f"CSV file {path}: regression needs numeric labels in {column!r}.")
        return numbers.astype("float32"), [], task
    if task != "classification":
        raise DataError(f'task={task!r} must be "classification" or "regression".')
    if numbers is not None and np.all(numbers == np.round(numbers)):
        keys = [str(int(v)) for v in numbers]
        class_names = [str(int(v)) for v in sorted(set(numbers))]
    else:
        keys, class_names = labels, sorted(set(labels))
    index = {c: i for i, c in enumerate(class_names)}
    return np.array([index[k] for k in keys], "int64"), class_names, task
