"""Metric math on fixed predictions, with no model and no files: per-class precision,
recall and F1 with their averages, the confusion matrix, calibration (expected
calibration error and its reliability bins), ROC and precision-recall for two classes,
regression errors, the most confidently wrong examples, and bias and variance as the
notes define them with what the recipe says to try next. Numbers come from
scikit-learn's metrics. ``zoo.evaluation`` calls these on a model's predictions and
writes what they return.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn import metrics as skm

# Error levels (fractions) under which a split counts as "fits well" for bias/variance:
# classification error, or the fraction of the target variance left unexplained.
GOOD_ERROR = {"classification": 0.02, "regression": 0.10}


def expected_calibration_error(
    y_true: np.ndarray, probabilities: np.ndarray, bins: int = 15
) -> tuple[float, list[dict]]:
    """ECE of the top-class confidence: the example-weighted mean over ``bins`` equal
    confidence bins of |accuracy - mean confidence|. Returns it and the per-bin table
    (the reliability plot's points)."""
    y_true = np.asarray(y_true).astype(int).reshape(-1)
    probs = as_class_probabilities(probabilities)
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == y_true
    edges = np.linspace(0.0, 1.0, bins + 1)
    # Bin i holds confidences in (edges[i], edges[i+1]]; the first bin also holds 0.
    which = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, bins - 1)
    table, ece = [], 0.0
    for i in range(bins):
        mask = which == i
        if not mask.any():
            continue
        acc, conf = float(correct[mask].mean()), float(confidence[mask].mean())
        ece += mask.mean() * abs(acc - conf)
        table.append(
            {
                "low": float(edges[i]),
                "high": float(edges[i + 1]),
                "count": int(mask.sum()),
                "accuracy": acc,
                "confidence": conf,
            }
        )
    return float(ece), table


def as_class_probabilities(probabilities: np.ndarray) -> np.ndarray:
    """(n, C) class probabilities; a binary (n,) or (n, 1) probability of class 1
    becomes (n, 2)."""
    p = np.asarray(probabilities, "float64")
    if p.ndim == 1 or p.shape[-1] == 1:
        p = p.reshape(-1)
        return np.stack([1.0 - p, p], axis=1)
    return p


def classification_report(
    y_true: np.ndarray,
    probabilities: np.ndarray,
    class_names: list[str] | None = None,
    *,
    thresholds: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9),
) -> dict:
    """Every classification figure for true labels and predicted probabilities
    ((n, C), or (n,) / (n, 1) for the probability of class 1 of a binary task)."""
    y_true = np.asarray(y_true).astype(int).reshape(-1)
    probs = as_class_probabilities(probabilities)
    classes = probs.shape[1]
    names = list(class_names) if class_names else [str(i) for i in range(classes)]
    if len(names) != classes:
        raise ValueError(
            f"class_names has {len(names)} names but the probabilities have {classes} columns."
        )
    y_pred = probs.argmax(axis=1)
    labels = list(range(classes))
    per = skm.precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    per_class = {
        name: {
            "precision": float(per[0][i]),
            "recall": float(per[1][i]),
            "f1": float(per[2][i]),
            "support": int(per[3][i]),
        }
        for i, name in enumerate(names)
    }
    averages = {}
    for average in ("macro", "weighted"):
        p, r, f, _ = skm.precision_recall_fscore_support(
            y_true, y_pred, labels=labels, average=average, zero_division=0
        )
        averages[average] = {"precision": float(p), "recall": float(r), "f1": float(f)}
    ece, bins = expected_calibration_error(y_true, probs)
    out: dict[str, Any] = {
        "summary": {
            "accuracy": float(skm.accuracy_score(y_true, y_pred)),
            "error": float(1.0 - skm.accuracy_score(y_true, y_pred)),
            "macro_f1": averages["macro"]["f1"],
            "weighted_f1": averages["weighted"]["f1"],
            "log_loss": float(skm.log_loss(y_true, np.clip(probs, 1e-15, 1), labels=labels)),
            "ece": ece,
            "examples": len(y_true),
        },
        "per_class": per_class,
        "averages": averages,
        "confusion_matrix": skm.confusion_matrix(y_true, y_pred, labels=labels).tolist(),
        "class_names": names,
        "calibration_bins": bins,
    }
    if classes == 2 and len(np.unique(y_true)) == 2:
        score = probs[:, 1]
        fpr, tpr, _ = skm.roc_curve(y_true, score)
        precision, recall, _ = skm.precision_recall_curve(y_true, score)
        out["summary"]["roc_auc"] = float(skm.roc_auc_score(y_true, score))
        out["summary"]["average_precision"] = float(skm.average_precision_score(y_true, score))
        out["curves"] = {
            "roc": {"fpr": fpr.tolist(), "tpr": tpr.tolist()},
            "pr": {"precision": precision.tolist(), "recall": recall.tolist()},
        }
        rows = []
        for t in thresholds:
            pred = (score >= t).astype(int)
            rows.append(
                {
                    "threshold": t,
                    "precision": float(skm.precision_score(y_true, pred, zero_division=0)),
                    "recall": float(skm.recall_score(y_true, pred, zero_division=0)),
                    "f1": float(skm.f1_score(y_true, pred, zero_division=0)),
                    "accuracy": float(skm.accuracy_score(y_true, pred)),
                    "predicted_positive": int(pred.sum()),
                }
            )
        out["thresholds"] = rows
    return out


def regression_report(y_true: np.ndarray, prediction: np.ndarray, *, largest: int = 10) -> dict:
    """MAE, RMSE, R^2 (scikit-learn), the target's spread, and the largest errors."""
    y_true = np.asarray(y_true, "float64").reshape(-1)
    pred = np.asarray(prediction, "float64").reshape(-1)
    if y_true.shape != pred.shape:
        raise ValueError(f"{len(y_true)} targets but {len(pred)} predictions.")
    mse = float(skm.mean_squared_error(y_true, pred))
    residual = y_true - pred
    worst = np.argsort(-np.abs(residual))[:largest]
    return {
        "summary": {
            "mae": float(skm.mean_absolute_error(y_true, pred)),
            "mse": mse,
            "rmse": float(np.sqrt(mse)),
            "r2": float(skm.r2_score(y_true, pred)) if len(y_true) > 1 else float("nan"),
            "target_std": float(y_true.std()),
            "examples": len(y_true),
        },
        "largest_errors": [
            {
                "row": int(i),
                "true": float(y_true[i]),
                "predicted": float(pred[i]),
                "error": float(residual[i]),
            }
            for i in worst
        ],
    }


def bias_variance(
    errors: dict[str, float],
    task: str,
    *,
    baseline: float | None = None,
    epochs_set_by: str | None = None,
) -> dict[str, Any]:
    """The notes' bias and variance from the error on each split (``train``, ``val``,
    ``test``; classification error, or for regression the fraction of the target
    variance left unexplained, 1 - R^2). Bias is the training error (against a perfect
    fit); variance is the gap from training to the held-out split with the larger error
    (validation or test: a small validation split that happens to be easy must not hide
    a worse test error). Returns the figures and a ``diagnosis`` sentence with what the
    recipe says to try; ``epochs_set_by`` (for example "--time-budget") names what fixed
    the number of epochs, for the advice to train longer."""
    if "train" not in errors:
        raise ValueError("bias_variance needs the training error (errors['train']).")
    held_out = [k for k in ("val", "test") if errors.get(k) is not None]
    if not held_out:
        raise ValueError("bias_variance needs a validation or test error.")
    held = max(held_out, key=lambda k: errors[k])
    train, other = float(errors["train"]), float(errors[held])
    gap = other - train
    good = GOOD_ERROR.get(task, 0.02)
    what = "error" if task == "classification" else "unexplained variance (1 - R^2)"
    figures = (
        f"training {what} {train:.2%}, {'validation' if held == 'val' else 'test'} {other:.2%}"
    )
    if baseline is not None and train >= 0.9 * baseline:
        verdict = "not learning"
        sentence = (
            f"{figures}: training error is near the dumb baseline's ({baseline:.2%}), so the "
            "model has not learned from the inputs. Go back to the sanity checks: overfit "
            "one batch, check the labels line up with the inputs, check the learning rate."
        )
    elif other <= good and gap <= good / 2:
        verdict = "fits well"
        sentence = (
            f"{figures}: both small and close. Gains from here come from the last stage of "
            "the recipe (ensembles, longer training) or from harder test data."
        )
    elif train >= gap:
        verdict = "underfitting"
        sentence = (
            f"{figures}: the training error dominates (high bias). Fit better first: a bigger "
            "model, train longer, less regularization (dropout, weight decay), tune the "
            "learning rate; add regularization back only once it overfits."
        )
        if epochs_set_by:
            sentence += f" Here {epochs_set_by} set the epochs: raise it to train longer."
    else:
        verdict = "overfitting"
        sentence = (
            f"{figures}: the gap of {gap:.2%} dominates (high variance). Regularize: more "
            "real data, then augmentation, dropout, weight decay, a smaller model, early "
            "stopping; then try a bigger model with that regularization."
        )
    return {
        "errors": {k: (None if v is None else float(v)) for k, v in errors.items()},
        "bias": train,
        "variance": gap,
        "held_out": held,
        "baseline": baseline,
        "verdict": verdict,
        "diagnosis": sentence,
    }


def top_losses(y, probs, names, top: int = 16) -> list[dict]:
    """The most confidently wrong examples: the wrong predictions with the highest
    cross-entropy, worst first."""
    p = as_class_probabilities(probs)
    y = np.asarray(y).astype(int).reshape(-1)
    loss = -np.log(np.clip(p[np.arange(len(y)), y], 1e-15, 1.0))
    wrong = np.flatnonzero(p.argmax(1) != y)
    order = wrong[np.argsort(-loss[wrong])][:top]
    return [
        {
            "row": int(i),
            "true": names[y[i]],
            "predicted": names[int(p[i].argmax())],
            "probability": float(p[i].max()),
            "probability_of_true": float(p[i, y[i]]),
            "loss": float(loss[i]),
        }
        for i in order
    ]
