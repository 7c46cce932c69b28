"""Every picture the project draws (matplotlib, Agg backend, PNG files)."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from zoo.runfolder import atomic_path


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_history(history: dict[str, list[float]], path: str | os.PathLike) -> Path:
    """Training curves: one panel per metric, training and validation together."""
    plt = _pyplot()
    not_curves = ("learning_rate", "lr", "seconds")
    metrics = [k for k in history if not k.startswith("val_") and k not in not_curves]
    fig, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 3.6), squeeze=False)
    for ax, metric in zip(axes[0], metrics, strict=True):
        epochs = np.arange(1, len(history[metric]) + 1)
        values = np.asarray(history[metric], dtype=float)
        measured = ~np.isnan(values)  # some are measured every few epochs (dead units)
        ax.plot(epochs[measured], values[measured], label="train",
                marker=None if measured.all() else "o")  # fmt: skip
        if f"val_{metric}" in history:
            ax.plot(epochs, history[f"val_{metric}"], label="validation")
        ax.set_xlabel("epoch")
        ax.set_title(metric)
        if metric == "loss":
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return path


def _save(fig, path: str | os.PathLike) -> Path:
    plt = _pyplot()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png")
    plt.close(fig)
    return path


def image_grid(
    images,
    titles: list[str],
    path: str | os.PathLike,
    *,
    title: str = "",
    ncols: int = 8,
    value_range: tuple[float, float] | None = None,
) -> Path:
    """A grid of images drawn on one shared value range (``value_range``, else the
    range of all of them), so that brightness differences between images are real."""
    plt = _pyplot()
    images = np.asarray(images, "float32")
    n = len(images)
    ncols = max(1, min(ncols, n))
    nrows = max(1, -(-n // ncols))
    lo, hi = value_range if value_range else (float(images.min()), float(images.max()))
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.4 * ncols, 1.55 * nrows + 0.4))
    for i, ax in enumerate(np.atleast_1d(axes).ravel()):
        ax.axis("off")
        if i >= n:
            continue
        image = (images[i] - lo) / (hi - lo) if hi > lo else images[i] * 0
        image = np.clip(image, 0, 1)
        if image.shape[-1] == 1:
            ax.imshow(image[..., 0], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        else:
            ax.imshow(image[..., :3], interpolation="nearest")
        ax.set_title(titles[i], fontsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return _save(fig, path)


def table_figure(
    rows: list[list[str]], columns: list[str], path: str | os.PathLike, *, title: str = ""
) -> Path:
    """A table of values as a picture (for a batch of tabular inputs)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(min(1.0 * len(columns) + 1, 30), 0.28 * len(rows) + 0.9))
    ax.axis("off")
    table = ax.table(cellText=rows, colLabels=columns, loc="center", cellLoc="right")
    table.auto_set_font_size(False)
    table.set_fontsize(7)
    if title:
        ax.set_title(title, fontsize=9)
    return _save(fig, path)


def class_counts(
    counts: dict[str, list[int]], class_names: list[str], path: str | os.PathLike
) -> Path:
    """Examples per class, one bar group per split."""
    plt = _pyplot()
    splits = [s for s in counts if sum(counts[s])]
    x = np.arange(len(class_names))
    width = 0.8 / max(1, len(splits))
    fig, ax = plt.subplots(figsize=(max(5, 0.45 * len(class_names) + 2), 3.4))
    for i, split in enumerate(splits):
        ax.bar(x + i * width, counts[split], width, label=split)
    ax.set_xticks(x + width * (len(splits) - 1) / 2, class_names, rotation=60, fontsize=7)
    ax.set_ylabel("examples")
    ax.set_title("examples per class")
    ax.legend()
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return _save(fig, path)


def histograms(
    columns, names: list[str], path: str | os.PathLike, *, title: str = "", ncols: int = 5
) -> Path:
    """One histogram per column of ``columns`` (a 2-D array), titled by ``names``."""
    plt = _pyplot()
    columns = np.asarray(columns, "float64")
    n = columns.shape[1]
    ncols = max(1, min(ncols, n))
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.6 * ncols, 1.9 * nrows + 0.4))
    for i, ax in enumerate(np.atleast_1d(axes).ravel()):
        if i >= n:
            ax.axis("off")
            continue
        values = columns[:, i]
        ax.hist(values[np.isfinite(values)], bins=30, color="C0")
        ax.set_title(names[i], fontsize=8)
        ax.tick_params(labelsize=6)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return _save(fig, path)


def prediction_dynamics(history, path: str | os.PathLike, *, targets=None) -> Path:
    """Predictions on a fixed batch across epochs (rows: epoch 0 = before training):
    one line per example, the probability of its true class (or the prediction, with
    the targets as dashes)."""
    plt = _pyplot()
    history = np.asarray(history)
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    epochs = np.arange(len(history))
    for i in range(history.shape[1]):
        ax.plot(epochs, history[:, i], color=f"C{i % 10}", alpha=0.6, lw=1)
        if targets is not None:
            ax.axhline(float(np.ravel(targets)[i]), color=f"C{i % 10}", ls="--", lw=0.6)
    ax.set_xlabel("epoch (0 = before training)")
    if targets is None:
        ax.set_ylabel("probability of the true class")
        ax.set_ylim(-0.02, 1.02)
    else:
        ax.set_ylabel("prediction (dashes: target)")
    ax.set_title(f"prediction dynamics on {history.shape[1]} fixed examples")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return _save(fig, path)


def dead_units(fractions: dict[str, float], path: str | os.PathLike) -> Path:
    """Fraction of ReLU units that never fire on a fixed batch, per layer."""
    plt = _pyplot()
    names = list(fractions)
    fig, ax = plt.subplots(figsize=(6.5, 0.28 * len(names) + 1.2))
    ax.barh(range(len(names)), [fractions[n] for n in names], color="C3")
    ax.set_yticks(range(len(names)), names, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("fraction of units that never fire")
    ax.set_title("dead ReLU units per layer")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return _save(fig, path)


def compare_scores(
    scores: dict[str, float], path: str | os.PathLike, *, metric: str, title: str = ""
) -> Path:
    """One bar per model (ensemble members against the ensemble, teacher against
    students, ...), the value written at the end of each bar."""
    plt = _pyplot()
    names = list(scores)
    values = [scores[n] for n in names]
    fig, ax = plt.subplots(figsize=(6.5, 0.35 * len(names) + 1.2))
    colors = ["C1" if i == len(names) - 1 else "C0" for i in range(len(names))]
    ax.barh(range(len(names)), values, color=colors)
    ax.set_yticks(range(len(names)), names, fontsize=8)
    ax.invert_yaxis()
    low, high = min(values), max(values)
    pad = max(1e-3, (high - low) * 0.5)
    ax.set_xlim(low - pad, high + pad)
    for i, v in enumerate(values):
        ax.text(v, i, f" {v:.4f}", va="center", fontsize=8)
    ax.set_xlabel(metric)
    ax.set_title(title or metric)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return _save(fig, path)


def conv_filters(kernel, path: str | os.PathLike, *, title: str = "") -> Path:
    """First-layer conv filters, ``kernel`` of shape (kh, kw, in, out): one tile per
    output filter (RGB when the input has 3 channels, else the mean over inputs)."""
    kernel = np.asarray(kernel, "float32")
    if kernel.shape[2] == 3:
        tiles = np.transpose(kernel, (3, 0, 1, 2))
    else:
        tiles = kernel.mean(axis=2).transpose(2, 0, 1)[..., None]
    lo, hi = float(tiles.min()), float(tiles.max())
    return image_grid(
        tiles,
        [str(i) for i in range(len(tiles))],
        path,
        ncols=min(16, len(tiles)),
        value_range=(lo, hi),
        title=title or f"first-layer filters ({kernel.shape[0]}x{kernel.shape[1]})",
    )


def confusion_matrix(matrix, class_names: list[str], path: str | os.PathLike) -> Path:
    """The confusion matrix twice: counts, and normalized by the true class (each row
    sums to 1, so the diagonal is the per-class recall)."""
    plt = _pyplot()
    counts = np.asarray(matrix, "float64")
    rows = counts.sum(axis=1, keepdims=True)
    normalized = np.divide(counts, rows, out=np.zeros_like(counts), where=rows > 0)
    n = len(class_names)
    size = max(3.6, 0.42 * n + 1.6)
    fig, axes = plt.subplots(1, 2, figsize=(2 * size + 0.8, size))
    for ax, values, title, fmt in (
        (axes[0], counts, "counts", "{:.0f}"),
        (axes[1], normalized, "normalized by true class", "{:.2f}"),
    ):
        image = ax.imshow(values, cmap="Blues", vmin=0)
        ax.set_xticks(range(n), class_names, rotation=60 if n > 4 else 0, fontsize=7)
        ax.set_yticks(range(n), class_names, fontsize=7)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(title)
        if n <= 20:
            top = values.max() or 1
            for i in range(n):
                for j in range(n):
                    if values[i, j]:
                        ax.text(
                            j,
                            i,
                            fmt.format(values[i, j]),
                            ha="center",
                            va="center",
                            fontsize=6 if n > 10 else 8,
                            color="white" if values[i, j] > top / 2 else "black",
                        )
        fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    return _save(fig, path)


def reliability(bins: list[dict], ece: float, path: str | os.PathLike) -> Path:
    """Reliability diagram: accuracy against mean confidence per confidence bin, the
    diagonal being perfect calibration, with the bin counts below."""
    plt = _pyplot()
    fig, (ax, ax_count) = plt.subplots(
        2, 1, figsize=(4.6, 5.2), gridspec_kw={"height_ratios": [3, 1]}, sharex=True
    )
    centers = [(b["low"] + b["high"]) / 2 for b in bins]
    widths = [b["high"] - b["low"] for b in bins]
    ax.bar(
        centers, [b["accuracy"] for b in bins], widths, edgecolor="k", alpha=0.7, label="accuracy"
    )
    ax.plot(
        [b["confidence"] for b in bins],
        [b["accuracy"] for b in bins],
        "o",
        color="C3",
        label="(confidence, accuracy)",
    )
    ax.plot([0, 1], [0, 1], "k--", lw=1, label="perfect calibration")
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1.02)
    ax.set_title(f"reliability (ECE {ece:.3f})")
    ax.legend(fontsize=7, loc="upper left")
    ax_count.bar(centers, [b["count"] for b in bins], widths, color="C0")
    ax_count.set_xlabel("confidence of the predicted class")
    ax_count.set_ylabel("examples")
    ax_count.set_xlim(0, 1)
    fig.tight_layout()
    return _save(fig, path)


def roc_pr(curves: dict, summary: dict, path: str | os.PathLike) -> Path:
    """ROC and precision-recall curves of a binary classifier, AUCs in the titles."""
    plt = _pyplot()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 4))
    ax1.plot(curves["roc"]["fpr"], curves["roc"]["tpr"], lw=2)
    ax1.plot([0, 1], [0, 1], "k--", lw=1)
    ax1.set_xlabel("false positive rate")
    ax1.set_ylabel("true positive rate")
    ax1.set_title(f"ROC (AUC {summary['roc_auc']:.4f})")
    ax2.plot(curves["pr"]["recall"], curves["pr"]["precision"], lw=2)
    ax2.set_xlabel("recall")
    ax2.set_ylabel("precision")
    ax2.set_title(f"precision-recall (AP {summary['average_precision']:.4f})")
    for ax in (ax1, ax2):
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return _save(fig, path)


def residuals(y_true, prediction, path: str | os.PathLike) -> Path:
    """Regression: predicted against true (the diagonal is perfect) and residuals
    (true - predicted) against predictions."""
    plt = _pyplot()
    y = np.asarray(y_true, "float64").reshape(-1)
    p = np.asarray(prediction, "float64").reshape(-1)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 4))
    ax1.scatter(y, p, s=10, alpha=0.6)
    lo, hi = float(min(y.min(), p.min())), float(max(y.max(), p.max()))
    ax1.plot([lo, hi], [lo, hi], "k--", lw=1)
    ax1.set_xlabel("true")
    ax1.set_ylabel("predicted")
    ax1.set_title("predicted vs true")
    ax2.scatter(p, y - p, s=10, alpha=0.6)
    ax2.axhline(0, color="k", lw=1, ls="--")
    ax2.set_xlabel("predicted")
    ax2.set_ylabel("residual (true - predicted)")
    ax2.set_title("residuals")
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return _save(fig, path)


_TRIAL_KEYS = ("trial_id", "status", "score", "best_epoch")


def search_objective(rows: list[dict], objective: str, path: str | os.PathLike) -> Path:
    """A search's objective per trial, in the order the trials ran, with the best so
    far as a line."""
    plt = _pyplot()
    scores = np.array([r["score"] for r in rows], "float64")
    better = np.fmax if objective.removeprefix("val_") == "accuracy" else np.fmin
    fig, ax = plt.subplots(figsize=(6, 3.6))
    ax.plot(np.arange(1, len(scores) + 1), scores, "o", label="trial")
    ax.plot(np.arange(1, len(scores) + 1), better.accumulate(scores), "-", label="best so far")
    ax.set_xlabel("trial")
    ax.set_ylabel(objective)
    if objective.removeprefix("val_") == "loss" and np.all(scores > 0):
        ax.set_yscale("log")
    ax.set_title(f"random search: {objective} per trial")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return _save(fig, path)


def search_hyperparameters(rows: list[dict], objective: str, path: str | os.PathLike) -> Path:
    """Each hyperparameter against the objective, one panel each: log x-axis for
    values spanning more than two decades, categories as strings."""
    plt = _pyplot()
    names = [k for k in dict.fromkeys(k for r in rows for k in r) if k not in _TRIAL_KEYS]
    names = [n for n in names if len({str(r.get(n)) for r in rows}) > 1] or names[:1]
    ncols = min(4, max(1, len(names)))
    nrows = -(-len(names) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.2 * ncols, 2.7 * nrows), squeeze=False)
    scores = [r["score"] for r in rows]
    for i, ax in enumerate(axes.ravel()):
        if i >= len(names):
            ax.axis("off")
            continue
        name = names[i]
        values = [r.get(name) for r in rows]
        numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
        if numeric:
            ax.scatter(values, scores, s=16)
            positive = [v for v in values if v > 0]
            if positive and len(positive) == len(values) and max(values) / min(values) > 100:
                ax.set_xscale("log")
        else:
            labels = sorted({str(v) for v in values})
            xs = [
                labels.index(str(v)) + np.random.default_rng(i).uniform(-0.1, 0.1) for v in values
            ]
            ax.scatter(xs, scores, s=16)
            ax.set_xticks(range(len(labels)), labels, fontsize=7)
        ax.set_title(name, fontsize=9)
        ax.set_ylabel(objective, fontsize=7)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return _save(fig, path)


def check_curves(results, path: str | os.PathLike) -> Path | None:
    """The loss curves the checks measured, one panel each: overfitting one batch
    (with its goal) and the first optimizer steps on real mini-batches, with the same
    curve after a root cause's fix (its fix trial) drawn over them; and, when a fix
    trial ran the input-independent baseline again, its validation losses before and
    after the fix. None when no check recorded a curve."""
    panels = []
    for r in results:
        losses = (r.details or {}).get("losses")
        if r.name in ("overfit_one_batch", "loss_decreasing") and losses:
            panels.append(r)
    trials = [t for r in results for key in ("trial", "together")
              if "checks" in (t := (r.details or {}).get(key) or {})]  # fmt: skip
    after = {name: (t["change"], curve, t["checks"].get(name, {}).get("expected_after"))
             for t in trials for name, curve in (t.get("curves") or {}).items() if curve}
    baseline = [t for t in trials if "input_independent_baseline" in t.get("baseline", {})]
    if not panels and not baseline:
        return None
    plt = _pyplot()
    count = len(panels) + (1 if baseline else 0)
    fig, axes = plt.subplots(1, count, figsize=(5.2 * count, 3.6), squeeze=False)
    for ax, r in zip(axes[0], panels, strict=False):
        losses = r.details["losses"]
        shown = list(losses)
        if r.name == "overfit_one_batch":
            steps = [10 * (i + 1) for i in range(len(losses))]
            ax.plot([0, *steps], [r.details["start"], *losses], marker=".", color="C0",
                    label="as written")  # fmt: skip
            ax.axhline(float(r.expected), color="C2", ls="--", lw=1, label="goal")
            ax.set_title(f"overfit one batch: {r.status}")
            shown.append(float(r.expected))
        else:
            ax.plot(range(1, len(losses) + 1), losses, color="C1", lw=1, label="as written")
            ax.set_title(f"first steps on real batches: {r.status}")
        if r.name in after:
            change, curve, goal = after[r.name]
            every = 10 if r.name == "overfit_one_batch" else 1
            ax.plot([every * (i + 1) for i in range(len(curve))], curve, color="C3", lw=1,
                    label=f"with {change}"[:60])  # fmt: skip
            shown += [v for v in curve if math.isfinite(v)]
            if r.name == "overfit_one_batch" and isinstance(goal, float) and not math.isclose(
                goal, float(r.expected), rel_tol=0.01
            ):  # the fix changed the loss (or the targets): its own goal
                ax.axhline(goal, color="C3", ls="--", lw=1, label="goal with the fix")
                shown.append(goal)
        ax.legend(fontsize=7)
        ax.set_xlabel("optimizer step")
        ax.set_ylabel("loss")
        shown = [v for v in shown if math.isfinite(v)]
        if shown and min(shown) > 0 and max(shown) > 10 * min(shown):
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
    if baseline:
        ax = axes[0][-1]
        t = baseline[0]
        b = t["baseline"]["input_independent_baseline"]
        names = ["as written", "with the fix", "inputs zeroed"]
        values = [b["before"], b["after"], b["zeros"]]
        ax.bar(names, values, color=["C1", "C3", "C7"])
        ax.set_title("fix trial: validation loss")
        ax.set_xlabel(t["change"][:70], fontsize=7)
        if min(values) > 0 and max(values) > 10 * min(values):
            ax.set_yscale("log")
        ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    return _save(fig, path)


def dependence_chart(results, path: str | os.PathLike) -> Path | None:
    """The sequence model's dependency chart (``sequence_leak``): how much each output
    step moves when each input step changes; cells right of the diagonal are reads of
    the future. None when no check charted one."""
    found = [r for r in results if r.name == "sequence_leak"
             and (r.details or {}).get("dependence")]  # fmt: skip
    if not found:
        return None
    r = found[0]
    chart = np.asarray(r.details["dependence"], dtype=float)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.0, 4.4))
    shown = ax.imshow(chart / max(chart.max(), 1e-12), cmap="viridis", origin="upper",
                      vmin=0, vmax=1)  # fmt: skip
    steps = chart.shape[0]
    ax.plot([-0.5, steps - 0.5], [-0.5, steps - 0.5], color="w", lw=1, ls="--")
    ax.set_xlabel("input step (right of the dashed line: later than the output)")
    ax.set_ylabel("output step")
    ax.set_title(f"what each output step reads: {r.status}")
    fig.colorbar(shown, ax=ax, label="change, relative to the largest")
    fig.tight_layout()
    return _save(fig, path)


def layer_figures(results, path: str | os.PathLike) -> Path | None:
    """The per-layer figures the checks measured, at initialization and after a few
    steps: each layer's gradient norm relative to its weights (log scale), and the
    fraction of its units dead or saturated. None when no check measured layers."""
    panels = [r for r in results if r.name in ("gradient_health", "dead_units")
              and (r.details or {}).get("layers")]  # fmt: skip
    if not panels:
        return None
    plt = _pyplot()
    rows = max(len(r.details["layers"]) for r in panels)
    fig, axes = plt.subplots(1, len(panels), figsize=(5.6 * len(panels), 0.32 * rows + 1.6),
                             squeeze=False)  # fmt: skip
    for ax, r in zip(axes[0], panels, strict=True):
        names = r.details["layers"]
        at = np.arange(len(names))
        bars = ((-0.2, "init", "at initialization"), (0.2, "after", "after a few steps"))
        positive = False
        for shift, key, label in bars:
            values = np.nan_to_num(np.asarray(r.details[key], "float64"), nan=0.0, posinf=1e30)
            ax.barh(at + shift, values, height=0.4, label=label)
            positive = positive or bool(np.any(values > 0))
        ax.set_yticks(at, names, fontsize=7)
        ax.invert_yaxis()
        if r.name == "gradient_health":
            if positive:  # every gradient zero: no log axis to draw them on
                ax.set_xscale("log")
            ax.set_xlabel("gradient norm / weight norm")
        else:
            ax.set_xlim(0, 1)
            ax.set_xlabel("fraction of units dead (ReLU) or saturated (sigmoid, tanh)")
        ax.set_title(f"{r.name}: {r.status}")
        ax.grid(axis="x", alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return _save(fig, path)


def activation_histograms(results, path: str | os.PathLike) -> Path | None:
    """Per hidden ReLU, sigmoid or tanh layer, the histogram of its outputs on a fixed
    batch at initialization and after a few steps (``dead_units``' measurement): a spike
    at 0 is dead ReLUs, spikes at the bounds saturated units. None when not measured."""
    r = next((r for r in results if r.name == "dead_units"
              and (r.details or {}).get("histograms", {}).get("init")), None)  # fmt: skip
    if r is None:
        return None
    plt = _pyplot()
    names = list(r.details["histograms"]["init"])
    cols = min(4, len(names))
    rows = -(-len(names) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.3 * rows), squeeze=False)
    for ax in axes.flat[len(names):]:
        ax.axis("off")
    for ax, name in zip(axes.flat, names, strict=False):
        for key, label, color in (("init", "at init", "C0"), ("after", "after steps", "C1")):
            counts, edges = r.details["histograms"].get(key, {}).get(name, ([], []))
            if counts:
                ax.stairs(counts, edges, label=label, color=color, fill=key == "init", alpha=0.6)
        ax.set_title(name, fontsize=8)
        ax.tick_params(labelsize=7)
    axes.flat[0].legend(fontsize=7)
    fig.suptitle(f"activations per hidden layer (dead_units: {r.status})", fontsize=9)
    fig.tight_layout()
    return _save(fig, path)


def lr_find_plot(test, path: str | os.PathLike) -> Path:
    """The range test: loss (raw, faint; smoothed) against the learning rate on a log
    axis, the suggestion marked."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    ax.plot(test.rates, test.losses, color="C0", alpha=0.25, label="loss")
    ax.plot(test.rates, test.smoothed, color="C0", label="smoothed")
    if test.suggestion:
        ax.axvline(test.suggestion, color="C3", linestyle="--",
                   label=f"suggested {test.suggestion:.2g}")  # fmt: skip
    finite = [s for s in test.smoothed if math.isfinite(s)]
    if finite:
        low = min(min(finite), min(v for v in test.losses if math.isfinite(v)))
        top = max(finite[0], min(max(finite), 4 * min(finite)))  # the start in view
        ax.set_ylim(low * 0.9, top * 1.05)
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("training loss")
    ax.set_title("learning-rate range test")
    ax.grid(alpha=0.3)
    ax.legend()
    return _save(fig, path)
