"""``run_recipe``: the main job behind ``zoo recipe``. The recipe's stages in order, one
short function each, a line per stage, everything in one run folder:

1. data: the data report on exactly the rows and splits the model trains on
   (``data/report.md`` and its plots);
2. skeleton: fixed seed, the sanity checks (``zoo.checks.run_checks``), the batch as
   the model sees it;
3. train: the standard callbacks (early stopping on validation loss, best weights,
   checkpoints, resumable), the output bias set from the training labels, prediction
   dynamics on a fixed batch, dead ReLU units, first-layer filters, and the dumb
   baseline to beat;
4. evaluate: per-class figures, confusion matrix, top losses, calibration (or
   residuals), and bias and variance with what to try next (``zoo.evaluate``);
5. export: a SavedModel taking raw inputs, verified in a fresh TensorFlow process.

``report.md`` and a self-contained ``report.html`` (plots inlined, ``zoo.report``) say
what happened; ``metrics.json`` holds the test metrics under ``test`` and the checks
under ``checks``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import keras

from zoo import run as stages
from zoo.callbacks import DeadUnitMonitor, PredictionDynamics
from zoo.checks import ChecksReport, dumb_baseline, run_checks
from zoo.config import TrainConfig
from zoo.data import inspect_data, show_batch
from zoo.evaluation import Evaluation
from zoo.plan import checks_seconds, duration
from zoo.plots import conv_filters
from zoo.quantize import int8_line
from zoo.registry import count_params
from zoo.report import markdown_to_html
from zoo.runfolder import write_text

STAGES = 5
#: The largest batch the sanity checks train with: they take some 1,100 steps, and
#: what they look for does not depend on the batch size.
CHECK_BATCH = 32


@dataclass
class RecipeRun:
    """The run's context (``zoo.run.Run``: settings, data, folder, model) and what the
    recipe adds: the report's sections as they are written."""

    run: stages.Run
    sections: list[tuple[str, str]] = field(default_factory=list)

    def __getattr__(self, name):  # the run's settings, data and folder
        return getattr(self.run, name)

    def stage(self, number: int, text: str) -> None:
        self.run.say(f"[{number}/{STAGES}] {text}")

    def detail(self, text: str) -> None:
        self.run.say(f"      {text}")


def check_batch(config: TrainConfig) -> int:
    """The batch the sanity checks train with."""
    return min(config.batch_size, CHECK_BATCH)


def run_recipe(
    config: TrainConfig | None = None,
    run_dir: str | Path | None = None,
    *,
    verbose: int = 0,
    say: Callable[[str], None] = print,
    formats=("savedmodel",),
    overwrite: bool = False,
    keep=None,
    progress: bool = False,
) -> dict:
    """Run the recipe on ``config`` (default: digits with ``convnet``). Returns the
    result written to ``metrics.json``, plus ``run_dir`` and ``passed`` (all checks).
    ``formats`` adds ``"onnx"`` and ``"tflite"`` exports to the SavedModel. The
    stages are ``zoo.run``'s, as ``zoo train`` runs them, with the data report, the
    sanity checks and the report between them: the run folder is held the same way
    (an interrupted recipe resumes its training; a finished one is refused unless
    ``overwrite``), ``config.devices`` trains on as many devices.

    ``keep``: the settings the user gave; the others are chosen from the data
    (``zoo.plan``; None: none is). ``config.time_budget``: seconds for the whole run,
    the epochs sized to fit, the checks' time counted. ``progress``: a bar over the
    epochs."""
    run = stages.Run(config or TrainConfig(), say, verbose, progress, tuple(formats), keep)
    stages.load(run)
    stages.plan(run, before=lambda c, step: checks_seconds(step, c.batch_size, check_batch(c)))
    name = f"recipe-{run.config.model}-{run.loaded.data.name}"
    with stages.folder(run, name, run_dir, overwrite=overwrite):
        recipe = RecipeRun(run)
        look_at_data(recipe)
        checks = check_skeleton(recipe)
        trained = train(recipe)
        checks.results.append(trained["baseline"])
        evaluate_stage(recipe)
        result = stages.record_run(run, checks=checks, dead_units=trained["dead_units"])
        result["export"] = export_stage(recipe)
        result["total_seconds"] = stages.finish(run)
        write_report(recipe, checks, trained["score"], result["total_seconds"])
    result["run_dir"] = str(run.run_dir)
    return result


def look_at_data(run: RecipeRun) -> None:
    """1. Become one with the data: the report on the rows and splits as loaded."""
    t = time.perf_counter()
    info = run.loaded.info
    report = inspect_data(run.loaded, run.run_dir / "data")
    levels = [f.level for f in report.findings]
    counts = ", ".join(
        f"{levels.count(k)} {k}" + ("s" if levels.count(k) > 1 else "")
        for k in ("problem", "warning")
        if k in levels
    )
    run.stage(
        1,
        f"data: {sum(info.num_examples.values())} examples ("
        + ", ".join(f"{k} {v}" for k, v in info.num_examples.items())
        + f") of shape {info.input_shape}, {info.task}; "
        f"{counts or 'no warnings'} ({time.perf_counter() - t:.1f}s; data/report.md)",
    )
    for f in report.findings:
        if f.level in ("warning", "problem"):
            run.detail(f.line())
    findings = "\n".join(f"- **{f.level}** {f.topic}: {f.message}" for f in report.findings)
    run.sections.append(("1. Data", findings + "\n\nFull report: [data/report.md](data/report.md)"))


def check_skeleton(run: RecipeRun) -> ChecksReport:
    """2. Skeleton: seed, the sanity checks, the batch just before the net."""
    t = time.perf_counter()
    config, step = run.config, run.planned.step_seconds
    estimate = ""
    if step is not None:  # a long run: the step measured once, by the plan
        seconds = checks_seconds(step, config.batch_size, check_batch(config))
        estimate = f" (about {duration(seconds)}; a training step takes " + (
            f"{1000 * step:.0f} ms at batch {config.batch_size})"
        )
    build = stages.build(run.run)
    run.stage(
        2,
        f"skeleton: {config.model} ({count_params(build()):,} parameters), seed "
        f"{config.seed}; sanity checks{estimate}:",
    )
    checks = run_checks(
        build,
        run.loaded.train,
        run.loaded.val,
        total_steps=build.total_steps,
        batch_size=check_batch(config),
        progress=lambda r: run.detail(f"{r.line()} ({r.seconds:.1f}s)"),
    )
    show_batch(run.loaded, "train", run.run_dir / "batch.png")
    failed = [r.name for r in checks.failed]
    warned = [r.name for r in checks.warned]
    run.detail(
        f"{len(checks.results) - len(failed)}/{len(checks.results)} checks passed "
        f"({time.perf_counter() - t:.1f}s)"
        + (f"; warnings: {', '.join(warned)}" if warned else "")
        + (f"; FAILED: {', '.join(failed)}" if failed else "")
    )
    run.sections.append(
        ("2. Skeleton: sanity checks", checks.markdown() + "\n![batch](batch.png)\n")
    )
    return checks


def train(run: RecipeRun):
    """3. Train: overfit, then regularize (early stopping restores the best weights);
    the monitors on a fixed batch, then the dumb baseline to beat. Returns what was
    measured; the model is the run's."""
    config, loaded, folder = run.config, run.loaded, run.run_dir
    run.stage(
        3,
        f"train: {config.optimizer} at {config.learning_rate:g} ({config.schedule}), batch "
        f"{config.batch_size}, early stopping on validation loss",
    )
    info = loaded.info
    held = "val" if info.num_examples["val"] else "train"
    x_fixed, y_fixed = loaded.arrays(held)
    dynamics = PredictionDynamics(
        x_fixed[:16], y_fixed[:16], task=info.task, path=folder / "prediction_dynamics.png"
    )
    dead = DeadUnitMonitor(x_fixed[:256], path=folder / "dead_units.png", every=5)
    if run.planned.step_seconds is None:
        run.detail(f"up to {config.epochs} epochs")
    model = stages.train(run.run, callbacks=[dynamics, dead])
    history, seconds = run.history, run.train_seconds
    baseline = dumb_baseline(model, loaded.arrays("train"), loaded.arrays(held))
    test = stages.test_scores(run.run)
    first_conv = next((la for la in model.layers if la.__class__.__name__ == "Conv2D"), None)
    if first_conv is not None:
        conv_filters(keras.ops.convert_to_numpy(first_conv.kernel), folder / "filters.png")
    epochs = len(history["loss"])
    score = ", ".join(f"{k} {v:.4f}" for k, v in test.items())
    run.detail(
        f"{epochs} epochs in {seconds:.1f}s; best val_loss "
        f"{min(history['val_loss']):.4f}; test: {score}"
    )
    run.detail(baseline.line())
    worst_dead = max(dead.fractions.values(), default=0.0)
    lines = [
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
    run.sections.append(("3. Training", "\n".join(lines)))
    return {"baseline": baseline, "score": score, "dead_units": dead.fractions}


def evaluate_stage(run: RecipeRun) -> Evaluation:
    """4. Look at the (mis)predictions, per class; bias and variance."""
    t = time.perf_counter()
    evaluation = stages.evaluate(run.run)
    lines = evaluation.lines()
    run.stage(4, f"evaluate: {lines[0]} ({time.perf_counter() - t:.1f}s; evaluation.md)")
    for line in lines[1:]:
        run.detail(line)
    body = evaluation.markdown().split("\n", 2)[2]  # without its own title
    run.sections.append(
        ("4. Evaluation", body.replace("## Bias and variance", "**Bias and variance**"))
    )
    return evaluation


def export_stage(run: RecipeRun) -> dict:
    """5. Export, verified in a fresh process of each format's runtime."""
    t = time.perf_counter()
    export = stages.export(run.run)
    diff = max(export["max_abs_diff"].values())
    if export.get("format") == "onnx":  # the PyTorch backend's export
        run.stage(
            5,
            f"export: model.onnx taking raw inputs (Keras' export through torch.onnx), "
            f"verified in a fresh onnxruntime process (max |diff| {diff:.1e}; "
            f"{time.perf_counter() - t:.1f}s)",
        )
        run.sections.append(
            (
                "5. Export",
                f"`model.onnx`: input `inputs` of raw values {run.loaded.info.input_shape}, "
                f"outputs `class_id` and `probabilities` (or `prediction`); run in a fresh "
                f"onnxruntime process, max difference {diff:.1e}.",
            )
        )
        return export
    others = [
        (name, export[key])
        for key, name in (("onnx", "ONNX"), ("tflite", "TFLite"))
        if key in export
    ]
    run.stage(
        5,
        f"export: SavedModel taking raw inputs, verified in a fresh TensorFlow "
        f"process (max |diff| {diff:.1e}"
        + "".join(f"; {n} {max(r['max_abs_diff'].values()):.1e}" for n, r in others)
        + f"; {time.perf_counter() - t:.1f}s)",
    )
    lines = [
        f"`export/`: serving signature `serving_default`, input `inputs` of raw values "
        f"{run.loaded.info.input_shape} (a wrong shape is refused with an error naming the "
        f"expected one); reloaded in a fresh TensorFlow-only process, max difference "
        f"{diff:.1e}. `saved_model_cli show` lists it in `export_signature.txt`."
    ]
    for name, record in others:
        lines.append(
            f"- {name}: `{Path(record['path']).name}`, run in a fresh process of its own "
            f"runtime, max difference {max(record['max_abs_diff'].values()):.1e}."
        )
    if "tflite_int8" in export:
        line = int8_line(export["tflite_int8"])
        run.detail(line)
        lines.append(f"- {line}")
    run.sections.append(("5. Export", "\n\n".join(lines[:1]) + "\n\n" + "\n".join(lines[1:])))
    return export


def write_report(run: RecipeRun, checks: ChecksReport, score: str, seconds: float) -> None:
    """``report.md`` and its self-contained ``report.html``."""
    title = f"Recipe: {run.config.model} on {run.config.data}"
    verdict = (
        "all checks passed"
        if checks.passed
        else f"FAILED: {', '.join(r.name for r in checks.failed)}"
    )
    markdown = f"# {title}\n\n**{verdict}**; test {score}; {seconds:.0f}s in all.\n"
    markdown += "".join(f"\n## {h}\n\n{b.strip()}\n" for h, b in run.sections)
    write_text(run.run_dir / "report.md", markdown)
    data = run.run_dir / "data"  # the data report as a page too: report.html links it
    if (data / "report.md").exists():
        page = markdown_to_html((data / "report.md").read_text(), data, f"Data: {run.config.data}")
        write_text(data / "report.html", page)
        markdown = markdown.replace("(data/report.md)", "(data/report.html)")
    write_text(run.run_dir / "report.html", markdown_to_html(markdown, run.run_dir, title))
