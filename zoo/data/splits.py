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


def fold_indices(
    y: np.ndarray,
    fold: tuple[int, int],
    *,
    val_fraction: float = 0.1,
    seed: int = 42,
    stratify: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fold ``k`` of ``n`` (``fold=(k, n)``) of a shuffled k-fold split (stratified for
    classification) as the test rows; the other rows split into train and validation,
    the validation rows ``val_fraction`` of all rows, for early stopping."""
    from sklearn.model_selection import KFold, StratifiedKFold, train_test_split

    k, n = fold
    if not (isinstance(n, int) and n >= 2 and isinstance(k, int) and 0 <= k < n):
        raise ValueError(f"fold={fold!r} must be (k, n) with n >= 2 and 0 <= k < n.")
    if not 0.0 <= val_fraction < 1.0 - 1.0 / n:
        raise ValueError(f"val_fraction={val_fraction!r} leaves no training rows with {n} folds.")
    index = np.arange(len(y))
    splitter = (StratifiedKFold if stratify else KFold)(n, shuffle=True, random_state=seed)
    rest, test = list(splitter.split(index, y if stratify else None))[k]
    if not val_fraction:
        return rest, rest[:0], test
    train, val = train_test_split(
        rest,
        test_size=val_fraction * n / (n - 1),
        random_state=seed,
        stratify=y[rest] if stratify else None,
    )
    return train, val, test


def refit_folds(
    y: np.ndarray, rows: np.ndarray, n: int, *, seed: int = 42, stratify: bool = True
) -> list[tuple[np.ndarray, np.ndarray]]:
    """``rows`` (the training and validation rows) cut into ``n`` shuffled folds, as
    ``n`` ``(train, val)`` pairs: each fold once the validation rows, the rest the
    training rows. Stratified by class when ``stratify`` and every class has ``n`` rows
    or more, plain folds otherwise."""
    from sklearn.model_selection import KFold, StratifiedKFold

    if not (isinstance(n, int) and 2 <= n <= len(rows)):
        raise ValueError(f"{n!r} folds of {len(rows)} rows: use 2 to {len(rows)} folds.")
    labels = y[rows]
    if stratify and np.unique(labels, return_counts=True)[1].min() >= n:
        parts = StratifiedKFold(n, shuffle=True, random_state=seed).split(rows, labels)
    else:
        parts = KFold(n, shuffle=True, random_state=seed).split(rows)
    return [(rows[a], rows[b]) for a, b in parts]
