"""``show_batch``: draw exactly what enters the model, one batch taken from the
pipeline after decoding, preprocessing and augmentation. The recipe's advice is to
visualize right before the model call, because that is where bugs hide."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from zoo.plots import image_grid, table_figure

MAX_COLUMNS = 16


def show_batch(
    loaded, split: str = "train", path: str | os.PathLike = "batch.png", *, max_items: int = 32
) -> Path:
    """Draw one batch of ``loaded.<split>`` (a ``zoo.data.load`` result) to ``path``:
    images as a grid on their shared value range, titled by label; tabular rows as a
    table of the standardized values the model receives. Returns the PNG path."""
    if split not in ("train", "val", "test"):
        raise ValueError(f'split={split!r} must be "train", "val" or "test".')
    try:
        x, y = next(iter(getattr(loaded, split)))
    except StopIteration:
        raise ValueError(f"The {split} split is empty; there is no batch to show.") from None
    x, y = np.asarray(x)[:max_items], np.asarray(y)[:max_items]
    info = loaded.info
    if info.task == "classification":
        labels = [info.class_names[int(v)] for v in y]
    else:
        labels = [f"{float(v):.4g}" for v in y]
    what = (
        f"{split} batch as the model receives it: shape {tuple(x.shape)}, "
        f"values {x.min():.3g} to {x.max():.3g}"
    )
    if x.ndim == 4:
        return image_grid(x, labels, path, title=what)
    names = info.feature_names or [f"x{i}" for i in range(x.shape[1])]
    shown = min(MAX_COLUMNS, x.shape[1])
    columns = names[:shown] + (["..."] if shown < x.shape[1] else []) + ["label"]
    rows = [
        [f"{v:.2f}" for v in row[:shown]] + (["..."] if shown < x.shape[1] else []) + [label]
        for row, label in zip(x, labels, strict=True)
    ]
    return table_figure(rows, columns, path, title=what)
