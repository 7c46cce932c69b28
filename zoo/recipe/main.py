"""``run_recipe``: the main job behind ``zoo recipe``. The recipe's stages in order,
a line per stage, everything in one run folder:

1. data: the data report (``data/report.md`` and its plots);
2. skeleton: fixed seed, the sanity checks (``run_checks``), the batch as the model
   sees it;
3. train: the standard callbacks (early stopping on validation loss, best weights,
   checkpoints, resumable), the output bias set from the training labels, prediction
   dynamics on a fixed batch, dead ReLU units, first-layer filters, and the dumb
   baseline to beat;
4. evaluate: per-class figures, confusion matrix, top losses, calibration (or
   residuals), and bias and variance with what to try next (``zoo.evaluate``);
5. export: a SavedModel taking raw inputs, verified in a fresh TensorFlow process.

``report.md`` and a self-contained ``report.html`` (plots inlined) say what happened;
``metrics.json`` holds the test metrics under ``test`` and the checks under ``checks``.
"""

from __future__ import annotations

import base64
import html
import json
import re
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from zoo.train import TrainConfig, build_fn, export_and_verify, fit, load_for, new_run_dir


def run_recipe(
    config: TrainConfig | None = None,
    run_dir: str | Path | None = None,
    *,
    verbose: int = 0,
    say: Callable[[str], None] = print,
    formats=("savedmodel",),
) -> dict:
    """Run the recipe on ``config`` (default: digits with ``convnet``). Returns the
    result written to ``metrics.json``, plus ``run_dir`` and ``passed`` (all checks).
    ``formats`` adds ``"onnx"`` and ``"tflite"`` exports to the SavedModel."""
    import keras

    from zoo.callbacks import DeadUnitMonitor, PredictionDynamics
    from zoo.data import inspect_data, show_batch
    from zoo.evaluation import evaluate, update_metrics
    from zoo.plots import conv_filters
    from zoo.recipe.checks import dumb_baseline, init_output_bias
    from zoo.recipe.runner import run_checks

    started = time.perf_counter()
    config, loaded = load_for(config or TrainConfig())  # bad input fails before writing
    info = loaded.info
    run_dir = Path(run_dir) if run_dir else new_run_dir(f"recipe-{config.model}-{loaded.data.name}")
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.json").write_text(json.dumps(asdict(config), indent=2) + "\n")
    sections: list[tuple[str, str]] = []

    # 1. Become one with the data.
    t = time.perf_counter()
    data_report = inspect_data(
        config.data,
        run_dir / "data",
        label=config.label,
        data_dir=config.data_dir,
        image_size=config.image_size,
        val_fraction=config.val_fraction,
        test_fraction=config.test_fraction,
        seed=config.seed,
    )
    levels = [f.level for f in data_report.findings]
    counts = ", ".join(f"{levels.count(k)} {k}" for k in ("problem", "warning") if k in levels)
    say(
        f"[1/5] data: {sum(info.num_examples.values())} examples ("
        + ", ".join(f"{k} {v}" for k, v in info.num_examples.items())
        + f") of shape {info.input_shape}, {info.task}; "
        f"{counts or 'no warnings'} ({time.perf_counter() - t:.1f}s; data/report.md)"
    )
    for f in data_report.findings:
        if f.level in ("warning", "problem"):
            say("      " + f.line())
    sections.append(
        (
            "1. Data",
            "\n".join(f"- **{f.level}** {f.topic}: {f.message}" for f in data_report.findings)
            + "\n\nFull report: [data/report.md](data/report.md)",
        )
    )

    # 2. Skeleton: seed, sanity checks, the batch just before the net.
    t = time.perf_counter()
    keras.utils.set_random_seed(config.seed)
    build = build_fn(config, loaded)
    say(
        f"[2/5] skeleton: {config.model} ({build().count_params():,} parameters), seed "
        f"{config.seed}; sanity checks:"
    )
    checks = run_checks(
        build,
        loaded.train,
        loaded.val,
        total_steps=build.total_steps,
        batch_size=config.batch_size,
        progress=lambda r: say(f"      {r.line()} ({r.seconds:.1f}s)"),
    )
    show_batch(loaded, "train", run_dir / "batch.png")
    failed = [r.name for r in checks.failed]
    say(
        f"      {len(checks.results) - len(failed)}/{len(checks.results)} checks passed "
        f"({time.perf_counter() - t:.1f}s)" + (f"; FAILED: {', '.join(failed)}" if failed else "")
    )
    sections.append(("2. Skeleton: sanity checks", checks.markdown() + "\n![batch](batch.png)\n"))

    # 3. Train: overfit, then regularize (early stopping restores the best weights).
    t = time.perf_counter()
    keras.utils.set_random_seed(config.seed)
    model = build()
    y_train = loaded.data.y[loaded.indices["train"]]
    init_output_bias(model, y_train)
    x_fixed, y_fixed = loaded.arrays("val") if info.num_examples["val"] else loaded.arrays("train")
    dynamics = PredictionDynamics(
        x_fixed[:16], y_fixed[:16], task=info.task, path=run_dir / "prediction_dynamics.png"
    )
    dead = DeadUnitMonitor(x_fixed[:256], path=run_dir / "dead_units.png", every=5)
    say(
        f"[3/5] train: up to {config.epochs} epochs, {config.optimizer} at "
        f"{config.learning_rate:g} ({config.schedule}), early stopping on validation loss"
    )
    history, seconds = fit(model, loaded, config, run_dir, extra=[dynamics, dead], verbose=verbose)
    baseline = dumb_baseline(
        model,
        loaded.arrays("train"),
        loaded.arrays("val") if info.num_examples["val"] else loaded.arrays("train"),
    )
    checks.results.append(baseline)
    test = {
        k: float(v) for k, v in model.evaluate(loaded.test, verbose=0, return_dict=True).items()
    }
    first_conv = next((la for la in model.layers if la.__class__.__name__ == "Conv2D"), None)
    if first_conv is not None:
        conv_filters(first_conv.kernel.numpy(), run_dir / "filters.png")
    epochs = len(history["loss"])
    score = ", ".join(f"{k} {v:.4f}" for k, v in test.items())
    say(
        f"      {epochs} epochs in {seconds:.1f}s; best val_loss "
        f"{min(history['val_loss']):.4f}; test: {score}"
    )
    say(f"      {baseline.line()}")
    worst_dead = max(dead.fractions.values(), default=0.0)
    sections.append(
        (
            "3. Training",
            "\n".join(
                [
                    f"{epochs} epochs in {seconds:.1f}s (best weights restored). Test: {score}.",
                    "",
                    f"- {baseline.line()}",
                    f"- Largest fraction of dead ReLU units in a layer: {worst_dead:.1%}",
                    "",
                    "![curves](curves.png)",
                    "![prediction dynamics](prediction_dynamics.png)",
                    "![dead units](dead_units.png)" if dead.fractions else "",
                    "![filters](filters.png)" if first_conv is not None else "",
                ]
            ),
        )
    )

    # 4. Look at the (mis)predictions, per class; bias and variance.
    t = time.perf_counter()
    evaluation = evaluate(model, loaded, run_dir=run_dir, write_metrics=False)
    test.update(evaluation.test)
    lines = evaluation.lines()
    say(f"[4/5] evaluate: {lines[0]} ({time.perf_counter() - t:.1f}s; evaluation.md)")
    for line in lines[1:]:
        say(f"      {line}")
    body = evaluation.markdown().split("\n", 2)[2]  # without its own title
    sections.append(
        ("4. Evaluation", body.replace("## Bias and variance", "**Bias and variance**"))
    )

    # 5. Export, verified in a fresh process.
    t = time.perf_counter()
    export = export_and_verify(model, loaded, run_dir, formats=formats)
    diff = max(export["max_abs_diff"].values())
    others = [
        (name, export[key])
        for key, name in (("onnx", "ONNX"), ("tflite", "TFLite"))
        if key in export
    ]
    say(
        f"[5/5] export: SavedModel taking raw inputs, verified in a fresh TensorFlow "
        f"process (max |diff| {diff:.1e}"
        + "".join(f"; {n} {max(r['max_abs_diff'].values()):.1e}" for n, r in others)
        + f"; {time.perf_counter() - t:.1f}s)"
    )
    lines = [
        f"`export/`: serving signature `serving_default`, input `inputs` of raw values "
        f"{info.input_shape} (a wrong shape is refused with an error naming the expected "
        f"one); reloaded in a fresh TensorFlow-only process, max difference {diff:.1e}. "
        "`saved_model_cli show` lists it in `export_signature.txt`."
    ]
    for name, record in others:
        lines.append(
            f"- {name}: `{Path(record['path']).name}`, run in a fresh process of its own "
            f"runtime, max difference {max(record['max_abs_diff'].values()):.1e}."
        )
    sections.append(("5. Export", "\n\n".join(lines[:1]) + "\n\n" + "\n".join(lines[1:])))

    result = {
        "data": config.data,
        "model": config.model,
        "passed": checks.passed,
        "checks": {
            r.name: {
                "passed": r.passed,
                "measured": _plain(r.measured),
                "expected": _plain(r.expected),
                "message": r.message,
            }
            for r in checks.results
        },
        "epochs_run": epochs,
        "train_seconds": round(seconds, 2),
        "total_seconds": round(time.perf_counter() - started, 2),
        **evaluation.as_metrics(),
        "test": test,
        "export": export,
        "num_examples": info.num_examples,
        "dead_units": dead.fractions,
    }
    update_metrics(run_dir / "metrics.json", result)
    title = f"Recipe: {config.model} on {config.data}"
    verdict = (
        "all checks passed"
        if checks.passed
        else f"FAILED: {', '.join(r.name for r in checks.failed)}"
    )
    markdown = f"# {title}\n\n**{verdict}**; test {score}; {result['total_seconds']:.0f}s in all.\n"
    markdown += "".join(f"\n## {h}\n\n{b.strip()}\n" for h, b in sections)
    (run_dir / "report.md").write_text(markdown)
    (run_dir / "report.html").write_text(markdown_to_html(markdown, run_dir, title))
    result["run_dir"] = str(run_dir)
    return result


def _plain(v):
    if isinstance(v, float | int | str | bool) or v is None:
        return v
    return str(v)


def markdown_to_html(markdown: str, folder: Path, title: str) -> str:
    """The report's Markdown as one self-contained HTML page: headings, lists, tables,
    and the PNGs inlined as data URIs."""
    out, in_list, table = [], False, []

    def inline(text: str) -> str:
        text = html.escape(text)
        text = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", text)
        text = re.sub(r"`(.+?)`", r"<code>\1</code>", text)
        return re.sub(r"\[(.+?)\]\((.+?)\)", r'<a href="\2">\1</a>', text)

    def flush_table():
        if table:
            rows = [r for r in table if not set(r.replace("|", "").strip()) <= {"-"}]
            cells = [[c.strip() for c in r.strip().strip("|").split("|")] for r in rows]
            body = "".join(
                "<tr>"
                + "".join(
                    f"<{'th' if i == 0 else 'td'}>{inline(c)}</{'th' if i == 0 else 'td'}>"
                    for c in row
                )
                + "</tr>"
                for i, row in enumerate(cells)
            )
            out.append(f"<table>{body}</table>")
            table.clear()

    for line in markdown.splitlines():
        if line.startswith("|"):
            table.append(line)
            continue
        flush_table()
        if line.startswith("- "):
            if not in_list:
                out.append("<ul>")
                in_list = True
            out.append(f"<li>{inline(line[2:])}</li>")
            continue
        if in_list:
            out.append("</ul>")
            in_list = False
        image = re.fullmatch(r"!\[(.*?)\]\((.+?\.png)\)", line.strip())
        if image:
            path = folder / image.group(2)
            if path.exists():
                data = base64.b64encode(path.read_bytes()).decode()
                out.append(
                    f'<img alt="{html.escape(image.group(1))}" src="data:image/png;base64,{data}">'
                )
        elif line.startswith("#"):
            level = len(line) - len(line.lstrip("#"))
            out.append(f"<h{level}>{inline(line[level:].strip())}</h{level}>")
        elif line.strip():
            out.append(f"<p>{inline(line)}</p>")
    flush_table()
    if in_list:
        out.append("</ul>")
    style = (
        "body{font-family:sans-serif;max-width:60em;margin:2em auto;padding:0 1em}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px}"
        "img{max-width:100%;display:block;margin:1em 0}"
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
        f"</title><style>{style}</style></head><body>{''.join(out)}</body></html>\n"
    )
