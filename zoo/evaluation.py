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

The figures come from ``zoo.metrics`` (metric math on fixed predictions, usable
alone); ``metrics.json`` gets the test figures under ``test`` (merged into what is
there), and ``evaluation.md`` says it in words. Commands on finished run folders
(``zoo evaluate``, ``zoo compare``) are in ``zoo.runs``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.metrics import accuracy_score, r2_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from zoo import plots
from zoo.data import Loaded, as_arrays
from zoo.metrics import (
    as_class_probabilities,
    bias_variance,
    classification_report,
    regression_report,
    top_losses,
)
from zoo.outputs import predict_outputs
from zoo.runfolder import update_metrics, write_text


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
    epochs_set_by: str | None = None,
) -> Evaluation:
    """Evaluate ``model`` on ``dataset`` and write the figures, plots and
    ``evaluation.md`` into ``run_dir`` (nothing is written when it is None).

    ``dataset``: a ``zoo.data.Loaded`` (its ``split`` is evaluated, its train and
    validation splits give bias and variance, and its raw test images go into the top
    losses grid), or preprocessed ``(x, y)`` arrays or a ``tf.data`` dataset of them
    with ``metadata`` (a ``DataInfo`` or a dict with ``task`` and ``class_names``); pass
    ``train`` / ``val`` the same way for bias and variance, and ``raw_inputs`` (with
    their ``raw_range``) to draw top losses as the inputs were read. ``epochs_set_by``
    names what fixed the epochs (a time budget), for the bias-and-variance advice.
    """
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
        x, y = as_arrays(dataset)
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
    drawn: dict[str, Path] = {}
    if task == "classification":
        details = classification_report(y, out, class_names)
        summary = dict(details["summary"])
        details["top_losses"] = top_losses(y, out, details["class_names"], top)
        if run is not None:
            drawn.update(_classification_plots(details, run, raw_inputs, raw_range, x))
    else:
        details = regression_report(y, out)
        summary = dict(details["summary"])
        if run is not None:
            drawn.update(_regression_plots(y, out, run))

    def error(xy) -> float:
        xs, ys = as_arrays(xy)
        pred = predict_outputs(model, xs, task)
        if task == "classification":
            return 1.0 - float(np.mean(as_class_probabilities(pred).argmax(1) == ys))
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
        _, y_train = as_arrays(train)
        if task == "classification":
            counts = np.bincount(np.asarray(y_train, int), minlength=out.shape[-1])
            baseline = 1.0 - counts.max() / counts.sum()
        else:
            baseline = 1.0  # predicting the mean leaves all of the variance unexplained
        bv = bias_variance(errors, task, baseline=baseline, epochs_set_by=epochs_set_by)
    result = Evaluation(task, summary, details, bv, drawn, split)
    if run is not None:
        write_text(run / "evaluation.md", result.markdown())
        if write_metrics:
            update_metrics(run / "metrics.json", result.as_metrics())
    return result


def _classification_plots(details, run: Path, raw, raw_range, x) -> dict[str, Path]:
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


def linear_baseline(loaded: Loaded) -> dict | None:
    """The recipe's baseline past the majority class, for tabular data: logistic
    regression (classification) or least-squares linear regression (regression) on
    standardized features, fit on the training and validation rows (it needs no early
    stopping) and scored on the test rows the network is scored on. Returns
    ``{"model", "metric", "score"}`` (accuracy or R^2), or None for images or a data set
    without a test split."""
    if loaded.data.x.ndim != 2 or not len(loaded.indices["test"]):
        return None
    rows = np.concatenate([loaded.indices["train"], loaded.indices["val"]])
    test = loaded.indices["test"]
    x, y = loaded.data.x, loaded.data.y
    if loaded.info.task == "classification":
        name, metric, score = "logistic regression", "accuracy", accuracy_score
        estimator = LogisticRegression(max_iter=5000)
    else:
        name, metric, score = "linear regression", "r2", r2_score
        estimator = LinearRegression()
    model = make_pipeline(StandardScaler(), estimator).fit(x[rows], y[rows])
    return {"model": name, "metric": metric, "score": float(score(y[test], model.predict(x[test])))}


def against_baseline(baseline: dict, score: float, model: str, examples: int) -> str:
    """A line saying how ``model``'s test ``score`` stands against ``baseline``
    (``linear_baseline``): the recipe's "beat the dumb baselines" step, said plainly."""
    metric, theirs = baseline["metric"], baseline["score"]
    line = f"{model} test {metric} {score:.4f}; {baseline['model']} on the same split {theirs:.4f}"
    if score >= theirs:
        return f"{line}: {model} matches or beats the linear baseline."
    if model == "linear":
        return (
            f"{line}: zoo's linear model is that model fit by gradient descent with early "
            f"stopping, {theirs - score:.4f} behind it here."
        )
    return (
        f"{line}: the {baseline['model']} does better. With {examples} training rows a "
        "network has little to find that a linear model misses: ship the linear model, "
        "or gather more data before trying a bigger network."
    )
