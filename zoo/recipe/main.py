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

from zoo.callbacks import DeadUnitMonitor, PredictionDynamics
from zoo.checks import ChecksReport, dumb_baseline, run_checks
from zoo.config import TrainConfig
from zoo.data import Loaded, inspect_data, show_batch
from zoo.evaluation import Evaluation, evaluate
from zoo.export import check_export_backend, export_and_verify
from zoo.outputs import init_output_bias
from zoo.plan import checks_seconds
from zoo.plots import conv_filters
from zoo.quantize import int8_line
from zoo.report import markdown_to_html
from zoo.runfolder import (
    epochs_logged,
    hold,
    new_run_dir,
    update_metrics,
    write_text,
)
from zoo.train import (
    begin_run,
    build_fn,
    duration,
    fit,
    load_for,
    needs_plan,
    plan_training,
    set_by,
    width_for_budget,
)

STAGES = 5
#: The largest batch the sanity checks train with: they take some 1,100 steps, and
#: what they look for does not depend on the batch size.
CHECK_BATCH = 32


@dataclass
class RecipeRun:
    """What the stages share: the settings, the data as loaded once, the run folder,
    where lines go, and the report's sections as they are written."""

    config: TrainConfig
    loaded: Loaded
    run_dir: Path
    say: Callable[[str], None]
    verbose: int = 0
    sections: list[tuple[str, str]] = field(default_factory=list)
    started: float = 0.0  # time.perf_counter() at the start of the run
    keep: set | None = None  # the settings the user gave (None: choose none)
    formats: tuple = ("savedmodel",)
    progress: bool = False  # a bar over the epochs
    chosen: list = field(default_factory=list)  # zoo.plan.Choice, with reasons
    step_seconds: float | None = None  # a training step, measured (large runs)
    plan: dict = field(default_factory=dict)

    def stage(self, number: int, text: str) -> None:
        self.say(f"[{number}/{STAGES}] {text}")

    def detail(self, text: str) -> None:
        self.say(f"      {text}")


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
    ``formats`` adds ``"onnx"`` and ``"tflite"`` exports to the SavedModel. The run
    folder is held as ``zoo.train.train_and_export`` holds it (an interrupted recipe
    resumes its training; a finished one is refused unless ``overwrite``).

    ``keep``: the settings the user gave; the others are chosen from the data
    (``zoo.plan``; None: none is). ``config.time_budget``: seconds for the whole run,
    the epochs sized to fit. ``progress``: a bar over the epochs."""
    started = time.perf_counter()
    check_export_backend(formats)  # a format this backend cannot write fails first
    chosen: list = []
    config, loaded = load_for(config or TrainConfig(), keep=keep, say=say, chosen=chosen)
    folder = Path(run_dir) if run_dir else new_run_dir(f"recipe-{config.model}-{loaded.data.name}")
    with hold(folder, config=config, overwrite=overwrite) as held:
        begin_run(held, config, say)
        run = RecipeRun(
            config,
            loaded,
            folder,
            say,
            verbose,
            started=started,
            keep=keep,
            formats=tuple(formats),
            progress=progress,
            chosen=chosen,
        )
        look_at_data(run)
        checks = check_skeleton(run)
        model, trained = train(run)
        checks.results.append(trained["baseline"])
        evaluation = evaluate_stage(run, model)
        result = record(run, checks, trained, evaluation, started)
        update_metrics(folder / "metrics.json", result)  # whole before the export starts
        result["export"] = export_stage(run, model, formats)
        update_metrics(folder / "metrics.json", {"export": result["export"]})
        result["total_seconds"] = round(time.perf_counter() - started, 2)
        update_metrics(folder / "metrics.json", {"total_seconds": result["total_seconds"]})
        write_report(run, checks, trained["score"], result["total_seconds"])
    result["run_dir"] = str(folder)
    return result


def record(run: RecipeRun, checks: ChecksReport, trained: dict, evaluation, started) -> dict:
    """What ``metrics.json`` holds of the run."""
    config, loaded = run.config, run.loaded

    test = {**trained["test"], **evaluation.test}
    return {
        "data": config.data,
        "model": config.model,
        "passed": checks.passed,
        "checks": {
            r.name: {k: v for k, v in r.as_record().items() if k not in ("name", "seconds")}
            for r in checks.results
        },
        "epochs_run": epochs_logged(run.run_dir),
        "epochs_this_session": trained["epochs"],
        "train_seconds": round(trained["seconds"], 2),
        "total_seconds": round(time.perf_counter() - started, 2),
        **evaluation.as_metrics(),
        "test": test,
        "num_examples": loaded.info.num_examples,
        "dead_units": trained["dead_units"],
        "chosen": {c.setting: {"value": c.value, "why": c.why} for c in run.chosen},
        "plan": run.plan,
    }


def look_at_data(run: RecipeRun) -> None:
    """1. Become one with the data: the report on the rows and splits as loaded."""
    t = time.perf_counter()
    info = run.loaded.info
    report = inspect_data(run.loaded, run.run_dir / "data")
    levels = [f.level for f in report.findings]
    counts = ", ".join(f"{levels.count(k)} {k}" for k in ("problem", "warning") if k in levels)
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
    config = run.config
    check_batch = min(config.batch_size, CHECK_BATCH)
    estimate = ""
    if needs_plan(config, run.loaded):  # a long run: the step measured once, for the plans
        run.config, run.step_seconds = width_for_budget(
            config,
            run.loaded,
            run.started,
            run.keep,
            run.detail,
            formats=run.formats,
            chosen=run.chosen,
            before=lambda step: checks_seconds(step, config.batch_size, check_batch),
        )
        config = run.config
        seconds = checks_seconds(run.step_seconds, config.batch_size, check_batch)
        estimate = f" (about {duration(seconds)}; a training step takes " + (
            f"{1000 * run.step_seconds:.0f} ms at batch {config.batch_size})"
        )
    keras.utils.set_random_seed(config.seed)
    build = build_fn(config, run.loaded)
    run.stage(
        2,
        f"skeleton: {config.model} ({build().count_params():,} parameters), seed "
        f"{config.seed}; sanity checks{estimate}:",
    )
    checks = run_checks(
        build,
        run.loaded.train,
        run.loaded.val,
        total_steps=build.total_steps,
        batch_size=check_batch,
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
    the monitors on a fixed batch, then the dumb baseline to beat. Returns the model
    and what was measured."""
    config = run.config
    run.stage(
        3,
        f"train: {config.optimizer} at {config.learning_rate:g} ({config.schedule}), batch "
        f"{config.batch_size}, early stopping on validation loss",
    )
    deadline = plan = None
    if run.step_seconds is not None:
        run.config, run.loaded, deadline, plan = plan_training(
            run.config,
            run.loaded,
            started=run.started,
            keep=run.keep,
            say=run.detail,
            formats=run.formats,
            step=run.step_seconds,
            chosen=run.chosen,
        )
        run.plan = {
            "step_seconds": round(plan.step_seconds, 4) if plan else run.step_seconds,
            "epochs": run.config.epochs,
            "time_budget": run.config.time_budget,
        }
    config, loaded, folder = run.config, run.loaded, run.run_dir
    info = loaded.info
    keras.utils.set_random_seed(config.seed)
    model = build_fn(config, loaded)()
    init_output_bias(model, loaded.data.y[loaded.indices["train"]])
    held = "val" if info.num_examples["val"] else "train"
    x_fixed, y_fixed = loaded.arrays(held)
    dynamics = PredictionDynamics(
        x_fixed[:16], y_fixed[:16], task=info.task, path=folder / "prediction_dynamics.png"
    )
    dead = DeadUnitMonitor(x_fixed[:256], path=folder / "dead_units.png", every=5)
    if run.step_seconds is None:
        run.detail(f"up to {config.epochs} epochs")
    run.plan["training_began"] = round(time.perf_counter() - run.started, 2)  # run clock
    history, seconds = fit(
        model,
        loaded,
        config,
        folder,
        extra=[dynamics, dead],
        verbose=run.verbose,
        deadline=deadline,
        progress=run.progress,
        most=plan.most if plan else None,
    )
    baseline = dumb_baseline(model, loaded.arrays("train"), loaded.arrays(held))
    test = {
        k: float(v) for k, v in model.evaluate(loaded.test, verbose=0, return_dict=True).items()
    }
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
    measured = {
        "baseline": baseline,
        "test": test,
        "score": score,
        "epochs": epochs,
        "seconds": seconds,
        "dead_units": dead.fractions,
    }
    return model, measured


def evaluate_stage(run: RecipeRun, model) -> Evaluation:
    """4. Look at the (mis)predictions, per class; bias and variance."""
    t = time.perf_counter()
    evaluation = evaluate(
        model,
        run.loaded,
        run_dir=run.run_dir,
        write_metrics=False,
        epochs_set_by=set_by(run.config),
    )
    lines = evaluation.lines()
    run.stage(4, f"evaluate: {lines[0]} ({time.perf_counter() - t:.1f}s; evaluation.md)")
    for line in lines[1:]:
        run.detail(line)
    body = evaluation.markdown().split("\n", 2)[2]  # without its own title
    run.sections.append(
        ("4. Evaluation", body.replace("## Bias and variance", "**Bias and variance**"))
    )
    return evaluation


def export_stage(run: RecipeRun, model, formats) -> dict:
    """5. Export, verified in a fresh process of each format's runtime."""
    t = time.perf_counter()
    export = export_and_verify(model, run.loaded, run.run_dir, formats=formats)
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
    write_text(run.run_dir / "report.html", markdown_to_html(markdown, run.run_dir, title))
