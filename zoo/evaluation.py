"""Evaluation people read: past the one accuracy number.

``evaluate(model, dataset, metadata, run_dir)`` predicts once per split and writes into
the run folder:

- classification: accuracy, per-class precision / recall / F1 / support with macro and
  weighted averages, the confusion matrix (counts and row-normalized), the most
  confidently wrong examples ("top losses"), a reliability plot with the expected
  calibration error, and for two classes the ROC and precision-recall curves with their
  AUCs and a threshold table;
- regression: MAE, RMSE, R^2, residuals against predictions, predicted against true,
  and the largest errors;
- bias and variance as the notes define them: the training error, the validation and
  test errors, the gap, and which of underfitting or overfitting the figures point to,
  with what the recipe says to try next.

Numbers come from scikit-learn's metrics; ``metrics.json`` gets the test figures under
``test`` (merged into what is there), and ``evaluation.md`` says it in words. The
functions on fixed predictions (``classification_report``, ``regression_report``,
``bias_variance``) are usable alone.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

# Error levels (fractions) under which a split counts as "fits well" for bias/variance:
# classification error, or the fraction of the target variance left unexplained.
GOOD_ERROR = {"classification": 0.02, "regression": 0.10}


# ---------------------------------------------------------------------------------------
# Figures on fixed predictions
# ---------------------------------------------------------------------------------------


def expected_calibration_error(
    y_true: np.ndarray, probabilities: np.ndarray, bins: int = 15
) -> tuple[float, list[dict]]:
    """ECE of the top-class confidence: the example-weighted mean over ``bins`` equal
    confidence bins of |accuracy - mean confidence|. Returns it and the per-bin table
    (the reliability plot's points)."""
    y_true = np.asarray(y_true).astype(int).reshape(-1)
    probs = _as_class_probabilities(probabilities)
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


def _as_class_probabilities(probabilities: np.ndarray) -> np.ndarray:
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
    from sklearn import metrics

    y_true = np.asarray(y_true).astype(int).reshape(-1)
    probs = _as_class_probabilities(probabilities)
    classes = probs.shape[1]
    names = list(class_names) if class_names else [str(i) for i in range(classes)]
    if len(names) != classes:
        raise ValueError(
            f"class_names has {len(names)} names but the probabilities have {classes} columns."
        )
    y_pred = probs.argmax(axis=1)
    labels = list(range(classes))
    per = metrics.precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
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
        p, r, f, _ = metrics.precision_recall_fscore_support(
            y_true, y_pred, labels=labels, average=average, zero_division=0
        )
        averages[average] = {"precision": float(p), "recall": float(r), "f1": float(f)}
    ece, bins = expected_calibration_error(y_true, probs)
    out: dict[str, Any] = {
        "summary": {
            "accuracy": float(metrics.accuracy_score(y_true, y_pred)),
            "error": float(1.0 - metrics.accuracy_score(y_true, y_pred)),
            "macro_f1": averages["macro"]["f1"],
            "weighted_f1": averages["weighted"]["f1"],
            "log_loss": float(metrics.log_loss(y_true, np.clip(probs, 1e-15, 1), labels=labels)),
            "ece": ece,
            "examples": len(y_true),
        },
        "per_class": per_class,
        "averages": averages,
        "confusion_matrix": metrics.confusion_matrix(y_true, y_pred, labels=labels).tolist(),
        "class_names": names,
        "calibration_bins": bins,
    }
    if classes == 2 and len(np.unique(y_true)) == 2:
        score = probs[:, 1]
        fpr, tpr, _ = metrics.roc_curve(y_true, score)
        precision, recall, _ = metrics.precision_recall_curve(y_true, score)
        out["summary"]["roc_auc"] = float(metrics.roc_auc_score(y_true, score))
        out["summary"]["average_precision"] = float(metrics.average_precision_score(y_true, score))
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
                    "precision": float(metrics.precision_score(y_true, pred, zero_division=0)),
                    "recall": float(metrics.recall_score(y_true, pred, zero_division=0)),
                    "f1": float(metrics.f1_score(y_true, pred, zero_division=0)),
                    "accuracy": float(metrics.accuracy_score(y_true, pred)),
                    "predicted_positive": int(pred.sum()),
                }
            )
        out["thresholds"] = rows
    return out


def regression_report(y_true: np.ndarray, prediction: np.ndarray, *, largest: int = 10) -> dict:
    """MAE, RMSE, R^2 (scikit-learn), the target's spread, and the largest errors."""
    from sklearn import metrics

    y_true = np.asarray(y_true, "float64").reshape(-1)
    pred = np.asarray(prediction, "float64").reshape(-1)
    if y_true.shape != pred.shape:
        raise ValueError(f"{len(y_true)} targets but {len(pred)} predictions.")
    mse = float(metrics.mean_squared_error(y_true, pred))
    residual = y_true - pred
    worst = np.argsort(-np.abs(residual))[:largest]
    return {
        "summary": {
            "mae": float(metrics.mean_absolute_error(y_true, pred)),
            "mse": mse,
            "rmse": float(np.sqrt(mse)),
            "r2": float(metrics.r2_score(y_true, pred)) if len(y_true) > 1 else float("nan"),
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
    errors: dict[str, float], task: str, *, baseline: float | None = None
) -> dict[str, Any]:
    """The notes' bias and variance from the error on each split (``train``, ``val``,
    ``test``; classification error, or for regression the fraction of the target
    variance left unexplained, 1 - R^2). Bias is the training error (against a perfect
    fit); variance is the gap from training to the held-out split with the larger error
    (validation or test: a small validation split that happens to be easy must not hide
    a worse test error). Returns the figures and a ``diagnosis`` sentence with what the
    recipe says to try."""
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


# ---------------------------------------------------------------------------------------
# Evaluating a model
# ---------------------------------------------------------------------------------------


@dataclass
class Evaluation:
    """What ``evaluate`` measured and wrote."""

    task: str
    test: dict[str, float]
    details: dict[str, Any]
    bias_variance: dict[str, Any] | None
    plots: dict[str, Path] = field(default_factory=dict)
    split: str = "test"

    def markdown(self) -> str:
        return _markdown(self)

    def as_metrics(self) -> dict[str, Any]:
        """What goes into ``metrics.json``: the split's figures under its name (``test``),
        the details under ``evaluation``, and ``bias_variance``."""
        return {
            self.split: self.test,
            "evaluation": {k: v for k, v in self.details.items() if k != "summary"},
            "bias_variance": self.bias_variance,
        }

    def lines(self) -> list[str]:
        """Short lines for a progress log."""
        if self.task == "classification":
            s = self.test
            out = [
                f"{self.split}: accuracy {s['accuracy']:.4f}, macro F1 {s['macro_f1']:.4f}, "
                f"ECE {s['ece']:.3f}" + (f", ROC AUC {s['roc_auc']:.4f}" if "roc_auc" in s else "")
            ]
            worst = min(self.details["per_class"].items(), key=lambda kv: (kv[1]["f1"], kv[0]))
            if worst[1]["f1"] < 1.0:
                out.append(f"weakest class: {worst[0]} (F1 {worst[1]['f1']:.3f})")
            else:
                out.append("every class: F1 1.000")
        else:
            s = self.test
            out = [f"{self.split}: MAE {s['mae']:.4g}, RMSE {s['rmse']:.4g}, R^2 {s['r2']:.4f}"]
        if self.bias_variance:
            out.append(f"{self.bias_variance['verdict']}: {self.bias_variance['diagnosis']}")
        return out


def predict_outputs(model, x: np.ndarray, task: str, batch_size: int = 256) -> np.ndarray:
    """Class probabilities ((n, C), or (n, 1) for one sigmoid unit) or regression values
    (n,) from a model that outputs logits (a zoo model) or probabilities."""
    import keras

    from zoo.recipe.checks import final_activation

    out = np.asarray(model.predict(x, batch_size=batch_size, verbose=0), "float64")
    if task == "regression":
        return out.reshape(len(out), -1)[:, 0]
    activation = final_activation(model)
    if activation in ("softmax", "sigmoid"):
        return out
    if out.shape[-1] == 1:
        return keras.ops.convert_to_numpy(keras.ops.sigmoid(out)).astype("float64")
    return keras.ops.convert_to_numpy(keras.ops.softmax(out, axis=-1)).astype("float64")


def _arrays(dataset) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(dataset, tuple | list) and len(dataset) == 2:
        return np.asarray(dataset[0]), np.asarray(dataset[1])
    from zoo.recipe.checks import as_arrays

    return as_arrays(dataset)


def evaluate(
    model,
    dataset,
    metadata=None,
    run_dir: str | os.PathLike | None = None,
    *,
    split: str = "test",
    train=None,
    val=None,
    raw_inputs: np.ndarray | None = None,
    top: int = 16,
    raw_range: tuple[float, float] | None = None,
    write_metrics: bool = True,
) -> Evaluation:
    """Evaluate ``model`` on ``dataset`` and write the figures, plots and
    ``evaluation.md`` into ``run_dir`` (nothing is written when it is None).

    ``dataset``: a ``zoo.data.Loaded`` (its ``split`` is evaluated, its train and
    validation splits give bias and variance, and its raw test images go into the top
    losses grid), or preprocessed ``(x, y)`` arrays or a ``tf.data`` dataset of them
    with ``metadata`` (a ``DataInfo`` or a dict with ``task`` and ``class_names``); pass
    ``train`` / ``val`` the same way for bias and variance, and ``raw_inputs`` (with
    their ``raw_range``) to draw top losses as the inputs were read.
    """
    from zoo.data.pipeline import Loaded

    if isinstance(dataset, Loaded):
        loaded = dataset
        metadata = metadata or loaded.info
        x, y = loaded.arrays(split)
        if raw_inputs is None and loaded.data.kind == "image":
            raw_inputs = loaded.arrays(split, preprocessed=False)[0]
            raw_range = (0.0, float(loaded.data.pixel_max or 255))
        if train is None and loaded.info.num_examples.get("train"):
            train = loaded.arrays("train")
        if val is None and split != "val" and loaded.info.num_examples.get("val"):
            val = loaded.arrays("val")
    else:
        x, y = _arrays(dataset)
    if metadata is None:
        raise ValueError(
            "evaluate needs metadata (task, class_names) when dataset is not a zoo Loaded."
        )
    if isinstance(metadata, str | os.PathLike):
        raise TypeError(
            f"metadata={metadata!r} looks like a folder: pass the run folder as run_dir=."
        )
    meta = (
        metadata
        if isinstance(metadata, dict)
        else {"task": metadata.task, "class_names": metadata.class_names}
    )
    task = meta.get("task", "classification")
    class_names = meta.get("class_names") or None
    if len(x) == 0:
        raise ValueError(f"the {split} split is empty: nothing to evaluate.")

    out = predict_outputs(model, x, task)
    run = Path(run_dir) if run_dir is not None else None
    if run is not None:
        run.mkdir(parents=True, exist_ok=True)
    plots: dict[str, Path] = {}
    if task == "classification":
        details = classification_report(y, out, class_names)
        summary = dict(details["summary"])
        details["top_losses"] = _top_losses(y, out, details["class_names"], top)
        if run is not None:
            plots.update(_classification_plots(details, run, raw_inputs, raw_range, x))
    else:
        details = regression_report(y, out)
        summary = dict(details["summary"])
        if run is not None:
            plots.update(_regression_plots(y, out, run))

    def error(xy) -> float:
        xs, ys = _arrays(xy)
        pred = predict_outputs(model, xs, task)
        if task == "classification":
            return 1.0 - float(np.mean(_as_class_probabilities(pred).argmax(1) == ys))
        var = float(np.var(ys)) or 1.0
        return float(np.mean((np.asarray(ys, "float64").reshape(-1) - pred) ** 2)) / var

    bv = None
    if train is not None:
        errors = {"train": error(train), "val": error(val) if val is not None else None}
        errors[split] = (
            summary["error"]
            if task == "classification"
            else summary["mse"] / (float(np.var(y)) or 1.0)
        )
        _, y_train = _arrays(train)
        if task == "classification":
            counts = np.bincount(np.asarray(y_train, int), minlength=out.shape[-1])
            baseline = 1.0 - counts.max() / counts.sum()
        else:
            baseline = 1.0  # predicting the mean leaves all of the variance unexplained
        bv = bias_variance(errors, task, baseline=baseline)
    result = Evaluation(task, summary, details, bv, plots, split)
    if run is not None:
        (run / "evaluation.md").write_text(result.markdown())
        if write_metrics:
            update_metrics(run / "metrics.json", result.as_metrics())
    return result


def update_metrics(path: str | os.PathLike, new: dict) -> dict:
    """Merge ``new`` into the JSON file at ``path`` (dicts merged one level deep) and
    write it atomically: a failure leaves the old file whole."""
    path = Path(path)
    current = json.loads(path.read_text()) if path.exists() else {}
    for key, value in new.items():
        if isinstance(value, dict) and isinstance(current.get(key), dict):
            current[key] = {**current[key], **value}
        else:
            current[key] = value
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(current, indent=2, default=_json_default) + "\n")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return current


def _json_default(v):
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    return str(v)


def _top_losses(y, probs, names, top) -> list[dict]:
    """The most confidently wrong examples: the wrong predictions with the highest
    cross-entropy, worst first."""
    p = _as_class_probabilities(probs)
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


def _classification_plots(details, run: Path, raw, raw_range, x) -> dict[str, Path]:
    from zoo import plots

    out = {
        "confusion_matrix": plots.confusion_matrix(
            np.asarray(details["confusion_matrix"]),
            details["class_names"],
            run / "confusion_matrix.png",
        ),
        "reliability": plots.reliability(
            details["calibration_bins"], details["summary"]["ece"], run / "reliability.png"
        ),
    }
    if "curves" in details:
        out["roc_pr"] = plots.roc_pr(details["curves"], details["summary"], run / "roc_pr.png")
    wrong = details["top_losses"]
    images = raw if raw is not None else (x if np.asarray(x).ndim == 4 else None)
    if wrong and images is not None:
        rows = [w["row"] for w in wrong]
        titles = [
            f"true {w['true']}\npred {w['predicted']} ({w['probability']:.2f})" for w in wrong
        ]
        out["top_losses"] = plots.image_grid(
            np.asarray(images)[rows],
            titles,
            run / "top_losses.png",
            title=f"the {len(rows)} most confidently wrong examples",
            value_range=raw_range if raw is not None else None,
        )
    return out


def _regression_plots(y, pred, run: Path) -> dict[str, Path]:
    from zoo import plots

    return {"residuals": plots.residuals(y, pred, run / "residuals.png")}


def _markdown(ev: Evaluation) -> str:
    d, s = ev.details, ev.test
    lines = [f"# Evaluation on the {ev.split} split ({s['examples']} examples)", ""]
    if ev.task == "classification":
        lines += [
            f"Accuracy **{s['accuracy']:.4f}**; macro F1 {s['macro_f1']:.4f}; weighted F1 "
            f"{s['weighted_f1']:.4f}; log loss {s['log_loss']:.4f}; expected calibration "
            f"error {s['ece']:.4f}"
            + (
                f"; ROC AUC {s['roc_auc']:.4f}; average precision {s['average_precision']:.4f}"
                if "roc_auc" in s
                else ""
            )
            + ".",
            "",
            "| class | precision | recall | F1 | support |",
            "|---|---|---|---|---|",
        ]
        for name, m in d["per_class"].items():
            lines.append(
                f"| {name} | {m['precision']:.3f} | {m['recall']:.3f} | {m['f1']:.3f} | "
                f"{m['support']} |"
            )
        for avg, m in d["averages"].items():
            lines.append(
                f"| *{avg} avg* | {m['precision']:.3f} | {m['recall']:.3f} | {m['f1']:.3f} | "
                f"{s['examples']} |"
            )
        lines += ["", "![confusion matrix](confusion_matrix.png)", ""]
        if "thresholds" in d:
            lines += [
                "Threshold on the probability of the second class:",
                "",
                "| threshold | precision | recall | F1 | accuracy | predicted positive |",
                "|---|---|---|---|---|---|",
            ]
            lines += [
                f"| {r['threshold']:.1f} | {r['precision']:.3f} | {r['recall']:.3f} | "
                f"{r['f1']:.3f} | {r['accuracy']:.3f} | {r['predicted_positive']} |"
                for r in d["thresholds"]
            ]
            lines += ["", "![ROC and precision-recall](roc_pr.png)", ""]
        lines += ["![reliability](reliability.png)", ""]
        if d["top_losses"]:
            lines += [
                "Most confidently wrong (top losses):",
                "",
                "| row | true | predicted | probability | p(true) |",
                "|---|---|---|---|---|",
            ]
            lines += [
                f"| {w['row']} | {w['true']} | {w['predicted']} | {w['probability']:.3f} | "
                f"{w['probability_of_true']:.3f} |"
                for w in d["top_losses"]
            ]
            if "top_losses" in ev.plots:
                lines += ["", "![top losses](top_losses.png)"]
        else:
            lines.append("No wrong predictions on this split.")
    else:
        lines += [
            f"MAE **{s['mae']:.4g}**; RMSE {s['rmse']:.4g}; R^2 {s['r2']:.4f} (target std "
            f"{s['target_std']:.4g}).",
            "",
            "![residuals](residuals.png)",
            "",
            "Largest errors:",
            "",
            "| row | true | predicted | error |",
            "|---|---|---|---|",
        ]
        lines += [
            f"| {e['row']} | {e['true']:.4g} | {e['predicted']:.4g} | {e['error']:+.4g} |"
            for e in d["largest_errors"]
        ]
    if ev.bias_variance:
        bv = ev.bias_variance
        errors = ", ".join(f"{k} {v:.2%}" for k, v in bv["errors"].items() if v is not None)
        lines += [
            "",
            "## Bias and variance",
            "",
            f"Errors: {errors}. Bias (training error) {bv['bias']:.2%}; variance (gap to "
            f"{bv['held_out']}) {bv['variance']:+.2%}.",
            "",
            f"**{bv['verdict']}**: {bv['diagnosis']}",
        ]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------
# A finished run folder: `zoo evaluate` and `zoo compare`
# ---------------------------------------------------------------------------------------


def evaluate_run(
    run_dir: str | os.PathLike, source: str | None = None, *, out_dir=None
) -> tuple[Evaluation, Path]:
    """Evaluate the model saved in ``run_dir`` (``model.keras``, else ``best.keras``).

    With no ``source``: its own test split, rebuilt from ``config.json`` (same seed,
    same splits, same preprocessing statistics), written into ``run_dir``. With a
    ``source`` (a CSV file, image folder, ... with the same classes or target): every
    row of it, preprocessed as the training data was, written into
    ``run_dir/eval-<name>/`` (or ``out_dir``). Returns the evaluation and its folder."""
    import keras

    from zoo.data import DataError
    from zoo.data.pipeline import materialize, read_source
    from zoo.train import load_run

    run = Path(run_dir)
    config, loaded, model, model_file = load_run(run)
    if source is None:
        return evaluate(model, loaded, run_dir=run), run

    info = loaded.info
    size = tuple(info.input_shape[:2]) if loaded.data.kind == "image" else None
    data = read_source(source, label=config.label, task=info.task, image_size=size)
    if tuple(data.input_shape) != tuple(info.input_shape):
        raise DataError(
            f"{source}: inputs of shape {data.input_shape}, but the model in {run} takes "
            f"{info.input_shape}."
        )
    if info.task == "classification" and list(data.class_names) != list(info.class_names):
        unknown = sorted(set(data.class_names) - set(info.class_names))
        if unknown:
            raise DataError(
                f"{source}: class(es) {', '.join(unknown)} were not in the training data "
                f"({', '.join(info.class_names)})."
            )
        # The same classes, some absent: map the labels onto the training ids.
        ids = np.array([info.class_names.index(n) for n in data.class_names])
        data.y = ids[data.y]
    raw, y = materialize(data, np.arange(len(data)))
    x = keras.ops.convert_to_numpy(loaded.preprocess(raw))
    name = Path(str(source).rstrip("/")).stem.replace("tfds:", "") or "data"
    folder = Path(out_dir) if out_dir else run / f"eval-{name}"
    ev = evaluate(
        model,
        (x, y),
        info,
        folder,
        train=loaded.arrays("train"),
        raw_inputs=raw if data.kind == "image" else None,
        raw_range=(0.0, float(data.pixel_max or 255)),
    )
    update_metrics(folder / "metrics.json", {"source": str(source), "model": str(model_file)})
    return ev, folder


COMPARE_KEYS = (
    "accuracy",
    "macro_f1",
    "roc_auc",
    "ece",
    "log_loss",
    "mae",
    "rmse",
    "r2",
    "loss",
)


def compare_runs(run_dirs: list[str | os.PathLike]) -> str:
    """A Markdown table of the runs' ``metrics.json`` side by side: data, model, the
    test figures, epochs, training time, and the bias/variance verdict."""
    rows: list[tuple[str, dict]] = []
    for d in run_dirs:
        path = Path(d) / "metrics.json"
        if not path.exists():
            raise ValueError(f"{d}: no metrics.json (not a finished zoo run folder).")
        try:
            rows.append((str(d), json.loads(path.read_text())))
        except json.JSONDecodeError as err:
            raise ValueError(f"{path} is not valid JSON ({err}).") from None
    keys = [k for k in COMPARE_KEYS if any(k in (m.get("test") or {}) for _, m in rows)]
    header = ["run", "data", "model", *keys, "epochs", "train s", "bias/variance"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for d, m in rows:
        test = m.get("test") or {}
        bv = m.get("bias_variance") or {}
        cells = [
            Path(d).name,
            str(m.get("data", "")),
            str(m.get("model", "")),
            *(f"{test[k]:.4f}" if isinstance(test.get(k), int | float) else "" for k in keys),
            str(m.get("epochs_run", m.get("epochs", ""))),
            f"{m['train_seconds']:.1f}" if "train_seconds" in m else "",
            bv.get("verdict", ""),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
