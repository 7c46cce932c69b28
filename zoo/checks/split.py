"""The training data against the validation data the program gives ``fit``: the same
scale and distribution (one set standardized and the other raw is a classic), and no
rows shared between them (a validation set that holds training rows measures memory,
not generalization)."""

from __future__ import annotations

import numpy as np

from zoo.checks.base import CheckResult, arrays, register

FAMILY = "data"


def _features(x: np.ndarray) -> np.ndarray:
    """Rows of features: per channel for images and sequences, per column for tables."""
    x = np.asarray(x, "float64")
    return x.reshape(-1, x.shape[-1]) if x.ndim > 2 else x.reshape(len(x), -1)


def _shared(x: np.ndarray, xv: np.ndarray) -> tuple[float, float]:
    """The fraction of validation rows found in the training rows, and (for
    comparison) the fraction of training rows that repeat within training: a random
    split of data with duplicates shares about that many."""
    def keys(a):
        a = np.ascontiguousarray(a.reshape(len(a), -1))
        return [row.tobytes() for row in a]

    train = keys(x)
    seen: dict[bytes, int] = {}
    for k in train:
        seen[k] = seen.get(k, 0) + 1
    repeated = sum(1 for k in train if seen[k] > 1) / max(len(train), 1)
    shared = sum(1 for k in keys(xv) if k in seen) / max(len(xv), 1)
    return shared, repeated


@register(FAMILY)
def validation_data(train, val, *, scale: float = 3.0, shift: float = 2.0,
                    shared_at: float = 0.3) -> CheckResult:  # fmt: skip
    """The validation inputs (``val``: the program's own, None when it gives none) on the
    training inputs' scale and distribution: the median feature's root-mean-square
    ratio within ``scale``, its mean within ``shift`` training spreads; and at most
    ``shared_at`` of the validation rows found among the training rows (beyond what
    the duplicates within training explain). A warning, with the figures: a set on
    another scale is harm once the validation loss shows it (the diagnosis tries the
    validation inputs brought to the training scale)."""
    if val is None:
        return CheckResult("validation_data", True, None, None, "the program gives no "
                           "validation data (the checks hold out rows of their own)")  # fmt: skip
    x, _, _ = arrays(train)
    xv, _, _ = arrays(val, limit=1024)
    if x.dtype.kind not in "fiub" or xv.dtype.kind not in "fiub":
        return CheckResult("validation_data", True, None, None,
                           "non-numeric inputs: not compared")  # fmt: skip
    if x.shape[1:] != xv.shape[1:]:
        return CheckResult("validation_data", False, str(xv.shape[1:]), str(x.shape[1:]),
                           f"the validation inputs have shape {xv.shape[1:]} and the training "
                           f"inputs {x.shape[1:]}: they must match")  # fmt: skip
    ft, fv = _features(x), _features(xv)
    mt, st, mv, sv = ft.mean(0), ft.std(0), fv.mean(0), fv.std(0)
    rt, rv = np.sqrt(mt**2 + st**2), np.sqrt(mv**2 + sv**2)
    both = (rt > 1e-8) & (rv > 1e-8)
    ratio = float(np.median(rv[both] / rt[both])) if both.any() else 1.0
    moved = st > 1e-8
    z = float(np.median(np.abs(mv[moved] - mt[moved]) / st[moved])) if moved.any() else 0.0
    shared, repeated = _shared(x, xv)
    figures = {"scale_ratio": ratio, "mean_shift": z, "shared": shared, "repeated": repeated}
    if ratio > scale or ratio < 1 / scale:
        return CheckResult(
            "validation_data", True, ratio, f"1/{scale:g} to {scale:g}",
            f"the validation inputs are on another scale than the training inputs: the median "
            f"feature's size (root mean square) is {float(np.median(rv)):.4g} in validation and "
            f"{float(np.median(rt)):.4g} in training ({ratio:.3g} times): one set was scaled or "
            "standardized and the other not. Fit the scaler on the training inputs and apply "
            "it to both", status="warn",
            details={**figures, "fix": {"validation": "rescale"}},
        )  # fmt: skip
    if z > shift:
        return CheckResult(
            "validation_data", True, z, f"<= {shift:g}",
            f"the validation inputs' means lie {z:.3g} training spreads from the training "
            "means (median feature): another distribution (transformed differently, or split "
            "by time or by source). Apply the same preprocessing to both, fitted on training",
            status="warn", details={**figures, "fix": {"validation": "rescale"}},
        )  # fmt: skip
    if shared > shared_at and shared > 2 * repeated + 0.1:
        return CheckResult(
            "validation_data", True, shared, f"<= {shared_at:.0%}",
            f"{shared:.0%} of the validation rows are also training rows (within training, "
            f"{repeated:.0%} of rows repeat): the validation loss measures memory, not how "
            "the model does on new data. Split before any duplication or augmentation, and "
            "never validate on the training arrays", status="warn", details=figures,
        )  # fmt: skip
    return CheckResult(
        "validation_data", True, ratio, f"1/{scale:g} to {scale:g}",
        f"the validation inputs match the training inputs' scale ({ratio:.3g} times) and "
        f"distribution; {shared:.0%} of validation rows also in training", details=figures,
    )  # fmt: skip
