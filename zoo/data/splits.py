"""Deterministic train / validation / test splits, stratified for classification."""

from __future__ import annotations

import numpy as np


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
