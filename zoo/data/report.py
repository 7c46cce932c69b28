"""The data report behind ``zoo inspect``: the recipe's first step, "become one with the
data", as a list of findings, each with what to do about it, written to ``report.md``
with PNG plots beside it.

It looks at: class counts and imbalance; exact duplicates within a split, across
splits (leakage) and with conflicting labels; unreadable files; image sizes, channels
and modes; per-feature statistics and missing values; features whose scale dwarfs the
others; outliers by a robust rule (median and MAD); a sample grid per class;
histograms of features, pixels or the target.
"""

from __future__ import annotations

import collections
import hashlib
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from zoo.data.bundled import DEFAULT_SOURCE, Dataset
from zoo.data.pipeline import Loaded, make_splits, materialize, read_source
from zoo.plots import class_counts, histograms, image_grid
from zoo.runfolder import write_text

LEVELS = ("ok", "note", "warning", "problem")
SPLITS = ("train", "val", "test")
IMBALANCE_WARN = 3.0  # largest / smallest class
SCALE_DWARF = 100.0  # a feature's spread against the median spread of all features
ROBUST_Z = 6.0  # |x - median| / (1.4826 * MAD) beyond this is an outlier


@dataclass
class Finding:
    level: str  # one of LEVELS
    topic: str
    message: str
    action: str = ""

    def line(self) -> str:
        action = f" -> {self.action}" if self.action else ""
        return f"[{self.level}] {self.topic}: {self.message}{action}"


@dataclass
class DataReport:
    source: str
    run_dir: Path
    findings: list[Finding] = field(default_factory=list)
    sections: list[tuple[str, str]] = field(default_factory=list)  # (heading, markdown)
    plots: dict[str, Path] = field(default_factory=dict)
    stats: dict[str, Any] = field(default_factory=dict)

    def add(self, level: str, topic: str, message: str, action: str = "") -> None:
        self.findings.append(Finding(level, topic, message, action))

    @property
    def worst(self) -> str:
        return max((f.level for f in self.findings), key=LEVELS.index, default="ok")

    def markdown(self) -> str:
        out = [f"# Data report: {self.source}", ""]
        out += ["## Findings", ""]
        for f in sorted(self.findings, key=lambda f: -LEVELS.index(f.level)):
            action = f" **Do:** {f.action}" if f.action else ""
            out.append(f"- **{f.level}** · {f.topic}: {f.message}{action}")
        for heading, body in self.sections:
            out += ["", f"## {heading}", "", body.rstrip()]
        if self.plots:
            out += ["", "## Plots", ""]
            for title, path in self.plots.items():
                out += [f"### {title}", "", f"![{title}]({path.name})", ""]
        return "\n".join(out).rstrip() + "\n"


def _table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _fmt(v: float) -> str:
    return "nan" if not np.isfinite(v) else f"{v:.4g}"


def inspect_data(
    source: str | Path | Loaded = DEFAULT_SOURCE,
    run_dir: str | Path = "data-report",
    *,
    label: str | None = None,
    task: str | None = None,
    data_dir: str | Path | None = None,
    image_size: tuple[int, int] | int | None = None,
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
    seed: int = 42,
    samples_per_class: int = 8,
) -> DataReport:
    """Look at ``source`` and write ``report.md`` and PNGs into ``run_dir``.

    ``source``: data already loaded (a ``zoo.data.Loaded``: its own rows and splits,
    cross-validation folds included, are described, and nothing is read again), or
    anything ``zoo.data.load`` reads, split as ``load`` splits it with the same
    ``seed`` and fractions (the other arguments then apply)."""
    run_dir = Path(run_dir)
    caught: list = []
    if isinstance(source, Loaded):
        data = source.data
        train, val, test = (source.indices[k] for k in SPLITS)
        source = source.info.source
    else:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            data = read_source(
                source,
                label=label,
                task=task,
                data_dir=data_dir,
                image_size=image_size,
                allow_missing=True,
            )
            train, val, test = make_splits(data, val_fraction, test_fraction, seed, source=source)
    run_dir.mkdir(parents=True, exist_ok=True)
    report = DataReport(str(source), run_dir)
    for w in caught:
        if "unreadable image" not in str(w.message):  # listed in full below
            report.add("warning", "loading", str(w.message).split("\n")[0])
    index = {"train": train, "val": val, "test": test}
    split_of = np.empty(len(data), "<U5")
    for name, rows in index.items():
        split_of[rows] = name
    x, y = materialize(data, np.arange(len(data)))
    report.stats = {
        "examples": {k: len(v) for k, v in index.items()},
        "input_shape": list(data.input_shape),
        "task": data.task,
        "kind": data.kind,
    }
    report.add(
        "ok",
        "size",
        f"{len(data)} examples ({', '.join(f'{k} {len(v)}' for k, v in index.items())}); "
        f"{data.kind} inputs of shape {data.input_shape}; {data.task}"
        + (f" with {data.num_classes} classes" if data.task == "classification" else ""),
    )
    if data.task == "classification":
        _classes(report, data, index)
    else:
        _target(report, y, index)
    _duplicates(report, data, x, y, split_of)
    if data.scan is not None:
        _files(report, data)
    if data.kind == "image":
        _images(report, data, x, y, index, samples_per_class)
    else:
        _features(report, data, x, train)
    write_text(run_dir / "report.md", report.markdown())
    return report


def _classes(report: DataReport, data: Dataset, index: dict[str, np.ndarray]) -> None:

    counts = {k: np.bincount(data.y[v], minlength=data.num_classes) for k, v in index.items()}
    total = sum(counts.values())
    report.stats["class_counts"] = {k: v.tolist() for k, v in counts.items()}
    ratio = float(total.max() / max(total.min(), 1))
    report.stats["imbalance_ratio"] = ratio
    rows = [
        [name] + [int(counts[s][i]) for s in SPLITS] + [f"{total[i] / total.sum():.1%}"]
        for i, name in enumerate(data.class_names)
    ]
    report.sections.append(("Classes", _table(["class", *SPLITS, "share"], rows)))
    big, small = data.class_names[int(total.argmax())], data.class_names[int(total.argmin())]
    if ratio >= IMBALANCE_WARN:
        report.add(
            "warning",
            "classes",
            f"imbalanced: {big!r} has {ratio:.1f}x the examples of {small!r} "
            f"({int(total.max())} vs {int(total.min())})",
            "report per-class recall and a confusion matrix, not accuracy alone; initialize "
            "the output bias from the class prior; consider class weights or resampling",
        )
    elif total.max() == total.min():
        report.add("ok", "classes", f"{data.num_classes} classes, {int(total.max())} examples each")
    else:
        report.add(
            "ok",
            "classes",
            f"{data.num_classes} classes, largest/smallest {ratio:.2f} "
            f"({big!r} {int(total.max())}, {small!r} {int(total.min())})",
        )
    report.plots["Examples per class"] = class_counts(
        {k: v.tolist() for k, v in counts.items()},
        data.class_names,
        report.run_dir / "class_counts.png",
    )


def _target(report: DataReport, y: np.ndarray, index: dict[str, np.ndarray]) -> None:

    rows = []
    for split, rows_ in index.items():
        t = y[rows_]
        if len(t):
            rows.append([split, _fmt(t.mean()), _fmt(t.std()), _fmt(t.min()), _fmt(t.max())])
    report.sections.append(("Target", _table(["split", "mean", "std", "min", "max"], rows)))
    report.stats["target"] = {"mean": float(y.mean()), "std": float(y.std())}
    z = _robust_z(y[:, None])[:, 0]
    n_out = int(np.sum(z > ROBUST_Z))
    report.add(
        "warning" if n_out else "ok",
        "target",
        f"mean {y.mean():.4g}, std {y.std():.4g}, range {y.min():.4g} to {y.max():.4g}; "
        f"{n_out} outlier target value(s) (robust z > {ROBUST_Z:g})",
        "check those rows for unit or entry errors; consider a Huber loss" if n_out else "",
    )
    report.plots["Target distribution"] = histograms(
        y[:, None], ["target"], report.run_dir / "target.png", ncols=1
    )


def _row_hashes(x: np.ndarray) -> list[str]:
    flat = np.ascontiguousarray(x.reshape(len(x), -1))
    return [hashlib.blake2b(row.tobytes(), digest_size=16).hexdigest() for row in flat]


def _duplicates(
    report: DataReport, data: Dataset, x: np.ndarray, y: np.ndarray, split_of: np.ndarray
) -> None:
    groups: dict[str, list[int]] = collections.defaultdict(list)
    for i, h in enumerate(_row_hashes(x)):
        groups[h].append(i)
    dupes = [g for g in groups.values() if len(g) > 1]
    within = collections.Counter()
    leaked = collections.Counter()  # val/test rows with an identical train row
    conflicting = 0
    for g in dupes:
        per_split = collections.Counter(split_of[g])
        for split, n in per_split.items():
            within[split] += n - 1
        if per_split["train"]:
            for split in ("val", "test"):
                leaked[split] += per_split[split]
        labels = set(y[g].tolist())
        conflicting += len(labels) > 1
    report.stats["duplicates"] = {
        "within": dict(within),
        "across": dict(leaked),
        "conflicting_groups": conflicting,
    }
    name = lambda i: data.files[i] if data.files is not None else f"row {i}"  # noqa: E731
    examples = "; ".join(" = ".join(name(i) for i in g[:3]) for g in dupes[:3])
    if sum(leaked.values()):
        report.add(
            "problem",
            "leakage",
            f"{leaked['val']} validation and {leaked['test']} test example(s) are exact "
            f"copies of training examples (e.g. {examples})",
            "remove the copies before splitting (deduplicate), or validation and test "
            "scores overstate how well the model generalizes",
        )
    if sum(within.values()):
        report.add(
            "warning",
            "duplicates",
            "exact duplicates within splits: "
            + ", ".join(f"{s} {within[s]}" for s in SPLITS if within[s]),
            "drop the extra copies unless they are meant to weigh more",
        )
    if conflicting:
        report.add(
            "problem",
            "labels",
            f"{conflicting} group(s) of identical inputs carry different labels",
            "look at them: label noise caps the accuracy any model can reach",
        )
    if not dupes:
        report.add("ok", "duplicates", "no two examples are identical")


def _files(report: DataReport, data: Dataset) -> None:
    scan = data.scan
    sizes = collections.Counter(scan.sizes)
    modes = collections.Counter(scan.modes)
    body = _table(
        ["height x width", "images"], [[f"{h}x{w}", n] for (h, w), n in sizes.most_common(10)]
    )
    body += "\n\n" + _table(["mode", "images"], [[m, n] for m, n in modes.most_common()])
    if scan.corrupt:
        body += "\n\nUnreadable files (left out):\n\n" + "\n".join(
            f"- `{p}`: {why}" for p, why in scan.corrupt
        )
        report.add(
            "problem",
            "files",
            f"{len(scan.corrupt)} unreadable image file(s) left out, e.g. {scan.corrupt[0][0]}",
            "replace or delete them (the full list is in report.md)",
        )
    if scan.ignored:
        report.add(
            "note",
            "files",
            f"{len(scan.ignored)} file(s) that are not images were ignored, e.g. {scan.ignored[0]}",
        )
    report.sections.append(("Image files", body))
    report.stats["image_sizes"] = {f"{h}x{w}": n for (h, w), n in sizes.items()}
    report.stats["image_modes"] = dict(modes)
    common = ", ".join(f"{h}x{w}" for (h, w), _ in sizes.most_common(3))
    report.add(
        "ok" if len(sizes) == 1 else "note",
        "image sizes",
        f"{len(sizes)} distinct size(s) ({common}"
        f"); modes {', '.join(f'{m} {n}' for m, n in modes.most_common())}; decoded to "
        f"{data.input_shape}",
        "" if len(sizes) == 1 else "choose image_size (--image-size) deliberately",
    )


def _robust_z(x: np.ndarray) -> np.ndarray:
    """|x - median| / (1.4826 MAD) per column; columns with MAD 0 fall back to the
    mean absolute deviation, and to 0 when that is 0 too."""
    med = np.nanmedian(x, axis=0)
    dev = np.abs(x - med)
    mad = 1.4826 * np.nanmedian(dev, axis=0)
    mean_dev = 1.2533 * np.nanmean(dev, axis=0)
    scale = np.where(mad > 0, mad, mean_dev)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(scale > 0, dev / scale, 0.0)
    return np.nan_to_num(z)


def _features(report: DataReport, data: Dataset, x: np.ndarray, train: np.ndarray) -> None:

    names = data.feature_names or [f"x{i}" for i in range(x.shape[1])]
    xt = x[train].astype("float64")
    missing = np.isnan(x).sum(axis=0)
    lo, hi = np.nanmin(xt, axis=0), np.nanmax(xt, axis=0)
    mean, std = np.nanmean(xt, axis=0), np.nanstd(xt, axis=0)
    z = _robust_z(xt)
    outliers = (z > ROBUST_Z).sum(axis=0)
    rows = [
        [
            n,
            _fmt(lo[i]),
            _fmt(hi[i]),
            _fmt(mean[i]),
            _fmt(std[i]),
            int(missing[i]),
            int(outliers[i]),
        ]
        for i, n in enumerate(names)
    ]
    report.sections.append(
        (
            "Features (training split)",
            _table(["feature", "min", "max", "mean", "std", "missing", "outliers"], rows),
        )
    )
    report.stats["features"] = {
        n: {
            "min": float(lo[i]),
            "max": float(hi[i]),
            "mean": float(mean[i]),
            "std": float(std[i]),
            "missing": int(missing[i]),
            "outliers": int(outliers[i]),
        }
        for i, n in enumerate(names)
    }
    if missing.any():
        cols = [f"{names[i]} ({missing[i]})" for i in np.flatnonzero(missing)]
        report.add(
            "problem",
            "missing values",
            f"{int(missing.sum())} missing value(s) in {', '.join(cols)}",
            "fill them with the training median (and add an is-missing column if missing "
            "means something) or drop those rows; zoo.data.load refuses them",
        )
    else:
        report.add("ok", "missing values", "none")
    constant = [names[i] for i in np.flatnonzero(std == 0)]
    if constant:
        report.add(
            "warning",
            "features",
            f"constant on the training split: {', '.join(constant)}",
            "drop them; they carry no information",
        )
    # Each feature's spread against the median spread of the other features.
    spread = np.where(std > 0, std, np.nan)
    typical = np.nanmedian(spread) if np.isfinite(spread).any() else np.nan
    ratio = np.full(len(names), np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN "others"
        for i in range(len(names)):
            others = np.delete(spread, i)
            if np.isfinite(spread[i]) and np.isfinite(others).any():
                ratio[i] = spread[i] / np.nanmedian(others)
    dwarfing = [i for i in np.flatnonzero(np.nan_to_num(ratio) > SCALE_DWARF)]
    if dwarfing:
        report.add(
            "warning",
            "feature scale",
            f"{len(dwarfing)} feature(s) dwarf the others (median std {typical:.3g}): "
            + ", ".join(
                f"{names[i]} (std {std[i]:.3g}, {ratio[i]:.0f}x)"
                for i in sorted(dwarfing, key=lambda i: -ratio[i])[:3]
            )
            + (", ..." if len(dwarfing) > 3 else ""),
            "standardize the features; zoo.data.load does it with a Normalization layer "
            "fitted on the training split, and exports that layer with the model",
        )
    elif np.isfinite(ratio).any():
        report.add(
            "ok",
            "feature scale",
            f"largest std / median std of the others = {np.nanmax(ratio):.1f} "
            "(standardized anyway)",
        )
    worst = np.argsort(-outliers)[:5]
    if outliers.sum():
        rows_out = int(np.any(z > ROBUST_Z, axis=1).sum())
        report.add(
            "warning",
            "outliers",
            f"{rows_out} training row(s) have a value beyond {ROBUST_Z:g} robust standard "
            "deviations; most in "
            + ", ".join(f"{names[i]} ({outliers[i]})" for i in worst if outliers[i]),
            "look at those rows: entry errors get fixed or dropped; real heavy tails may "
            "want a log transform or clipping",
        )
    else:
        report.add("ok", "outliers", f"no value beyond {ROBUST_Z:g} robust standard deviations")
    report.plots["Feature histograms (training split)"] = histograms(
        xt, names, report.run_dir / "histograms.png"
    )


def _images(
    report: DataReport,
    data: Dataset,
    x: np.ndarray,
    y: np.ndarray,
    index: dict[str, np.ndarray],
    per_class: int,
) -> None:

    xt = x[index["train"]].astype("float32")
    channels = xt.shape[-1]
    flat = xt.reshape(-1, channels)
    report.stats["pixels"] = {
        "min": float(flat.min()),
        "max": float(flat.max()),
        "channel_mean": flat.mean(axis=0).tolist(),
        "channel_std": flat.std(axis=0).tolist(),
    }
    report.add(
        "ok",
        "pixels",
        f"raw values {flat.min():.4g} to {flat.max():.4g} (scaled by 1/{data.pixel_max:g} "
        f"to [0, 1]); per-channel mean {', '.join(f'{v:.4g}' for v in flat.mean(axis=0))}, "
        f"std {', '.join(f'{v:.4g}' for v in flat.std(axis=0))}",
    )
    brightness = x.reshape(len(x), -1).mean(axis=1)
    z = _robust_z(brightness[:, None].astype("float64"))[:, 0]
    odd = np.flatnonzero(z > ROBUST_Z)
    if len(odd):
        name = lambda i: data.files[i] if data.files is not None else f"#{i}"  # noqa: E731
        report.add(
            "warning",
            "outliers",
            f"{len(odd)} image(s) with unusual mean brightness, e.g. "
            + ", ".join(name(i) for i in odd[:3]),
            "look at them: blank, saturated or wrongly exposed images are worth removing",
        )
    else:
        report.add("ok", "outliers", "no image with unusual mean brightness")
    if data.task == "classification":
        rng = np.random.default_rng(0)
        picks, titles = [], []
        for c, cname in enumerate(data.class_names):
            rows = np.flatnonzero(y == c)
            for i in rng.choice(rows, min(per_class, len(rows)), replace=False):
                picks.append(i)
                titles.append(cname)
        report.plots["Samples per class"] = image_grid(
            x[picks],
            titles,
            report.run_dir / "samples.png",
            ncols=per_class,
            value_range=(0, data.pixel_max or 255.0),
            title="random examples per class (raw pixels)",
        )
    names = ["gray"] if channels == 1 else ["red", "green", "blue"][:channels]
    sample = flat[np.random.default_rng(0).choice(len(flat), min(len(flat), 200_000), False)]
    report.plots["Pixel histograms (training split)"] = histograms(
        sample, names, report.run_dir / "pixels.png", ncols=channels
    )
