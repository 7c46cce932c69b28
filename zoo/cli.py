"""The `zoo` command: parse the arguments, call the library, print. Modules that load
TensorFlow or Keras are imported inside the subcommands that need them, so `zoo
--help` is instant; the defaults come from ``zoo.config.TrainConfig``."""

from __future__ import annotations

import ast
import contextlib
import os
import re
import subprocess
import sys
import warnings
from dataclasses import replace
from pathlib import Path

from zoo import __version__
from zoo.backend import import_tensorflow_quietly
from zoo.cli_parser import build_parser, misplaced_check_options, refuse_unknown
from zoo.config import (
    DEFAULTS,
    TrainConfig,
    check_devices,
    check_export_backend,
    parse_duration,
    read_config_file,
    script_problem,
    validate,
)
from zoo.data import check_source
from zoo.interrupts import stop_cleanly
from zoo.registry import get_spec, list_models
from zoo.runfolder import current as current_run
from zoo.runfolder import epochs_logged, new_run_dir, write_json


def _cmd_models(args) -> int:
    names = list_models(args.family)
    rows = [("model", "family", "params", "GFLOPs", "input", "classes")]
    for name in names:
        s = get_spec(name)
        shape = "x".join(map(str, s.input_shape))
        rows.append(
            (name, s.family, f"{s.params:,}", f"{s.flops / 1e9:.3g}", shape, str(s.num_classes))
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for i, row in enumerate(rows):
        print(
            "  ".join(
                c.rjust(w) if j in (2, 3, 5) else c.ljust(w)
                for j, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )
        if i == 0:
            print("  ".join("-" * w for w in widths))
    if args.sources:
        print()
        for name in names:
            print(f"{name}: {get_spec(name).source}")
    return 0


def _benchmarks_dir():
    """The source checkout's ``benchmarks/`` folder (``ZOO_BENCHMARKS`` overrides)."""
    folder = Path(os.environ.get("ZOO_BENCHMARKS") or Path(__file__).parent.parent / "benchmarks")
    if not (folder / "common.py").exists():
        raise ValueError(
            f"no benchmarks folder at {folder}: the benchmarks are scripts in the source "
            "checkout; install with `pip install -e .` from a clone, or set ZOO_BENCHMARKS "
            "to its benchmarks/ folder."
        )
    return folder


def _cmd_bench(args) -> int:
    folder = _benchmarks_dir()
    scripts = {
        p.stem: p
        for p in sorted(folder.glob("*.py"))
        if p.stem not in ("common", "report", "torch_resnet") and not p.stem.startswith("_")
    }
    if not args.name:
        print("benchmarks (zoo bench NAME [ARGS...]; each script's --help tells its options):")
        for name, path in scripts.items():
            first = ""
            for line in path.read_text().splitlines():
                if line.strip().strip('"'):
                    first = line.strip().strip('"')
                    break
            print(f"  {name:<14} {first}")
        print(f"results: {folder / 'results'}; page: {folder.parent / 'docs' / 'benchmarks.md'}")
        return 0
    if args.name != "docs":
        if args.name not in scripts:
            raise ValueError(
                f"unknown benchmark {args.name!r}; choose from {', '.join(scripts)} "
                "(or `docs` to rebuild docs/benchmarks.md only)."
            )
        code = subprocess.call([sys.executable, str(scripts[args.name]), *args.args])
        if code:
            print(f"zoo bench: {args.name} exited with {code}; docs not rebuilt", file=sys.stderr)
            return code
    return subprocess.call([sys.executable, str(folder / "report.py")])


def _image_size(text: str | None):
    if not text:
        return None
    bad = f"--image-size {text!r}: give HEIGHTxWIDTH (e.g. 64x64) or one number."
    try:
        parts = [int(v) for v in text.lower().replace("x", ",").split(",")]
    except ValueError:
        raise ValueError(bad) from None
    if len(parts) not in (1, 2):
        raise ValueError(bad)
    return tuple(parts * 2) if len(parts) == 1 else tuple(parts)


def _cmd_inspect(args) -> int:
    from zoo.data import inspect_data, read_source

    check_source(args.source)
    size = _image_size(args.image_size)
    name = Path(str(args.source).rstrip("/")).stem.replace("tfds:", "") or "data"
    run_dir = Path(args.run_dir) if args.run_dir else None
    if run_dir is None:
        # Read first so that bad input fails before a folder is made.
        read_source(
            args.source,
            label=args.label,
            data_dir=args.data_dir,
            image_size=size,
            allow_missing=True,
        )
        run_dir = new_run_dir(f"inspect-{name}")
    report = inspect_data(
        args.source,
        run_dir,
        label=args.label,
        data_dir=args.data_dir,
        image_size=size,
        seed=args.seed,
    )
    print(f"data report: {args.source}")
    for finding in sorted(
        report.findings, key=lambda f: -("ok", "note", "warning", "problem").index(f.level)
    ):
        print("  " + finding.line())
    plots = ", ".join(p.name for p in report.plots.values())
    print(f"report: {run_dir / 'report.md'} (plots: {plots})")
    return 0


def _model_args(pairs: list[str] | None) -> dict:
    """``--model-arg KEY=VALUE`` pairs as ``model_kwargs``: VALUE is read as a Python
    literal where it is one (``0.2``, ``[64, 64]``, ``True``), else kept as text
    (``l2:1e-4``)."""
    kwargs = {}
    for pair in pairs or []:
        key, sep, text = pair.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key.isidentifier():
            raise ValueError(
                f"--model-arg {pair!r}: give KEY=VALUE, e.g. --model-arg dropout=0.2 or "
                "--model-arg hidden=[64,64] (`zoo models` lists the models)."
            )
        words = {"true": True, "false": False, "none": None}
        try:
            value = ast.literal_eval(text.strip())
        except (ValueError, SyntaxError):
            value = words.get(text.strip().lower(), text.strip())
        kwargs[key] = list(value) if isinstance(value, tuple) else value
    return kwargs


#: Flags whose default zoo may choose from the data (zoo.plan), by config setting.
_CHOOSABLE_FLAGS = {
    "model": "model",
    "model_kwargs": "model_arg",
    "epochs": "epochs",
    "batch_size": "batch_size",
    "learning_rate": "lr",
    "schedule": "schedule",
    "precision": "precision",
    "augment": "augment",
}


def _given(args) -> set[str]:
    """The settings the user gave (on the command line or in --config's file): zoo
    chooses the others."""
    flags = {name for name, flag in _CHOOSABLE_FLAGS.items() if getattr(args, flag) is not None}
    return flags | (args.config_keys & set(_CHOOSABLE_FLAGS))


#: Each data flag and the TrainConfig field it sets.
_DATA_FLAGS = {"source": "data", "seed": "seed", "label": "label", "data_dir": "data_dir"}


def _fill(args) -> None:
    """``args`` with ``--config``'s file read into ``args.base`` (else the defaults)
    and the data flags not given taken from it, for every command that reads data."""
    base, keys = read_config_file(args.config) if args.config else (DEFAULTS, set())
    args.base, args.config_keys = base, keys
    for flag, name in _DATA_FLAGS.items():
        if getattr(args, flag, None) is None:
            setattr(args, flag, getattr(base, name))
    if getattr(args, "image_size", None) is None and base.image_size:
        args.image_size = "x".join(map(str, base.image_size))
    if hasattr(args, "model") and args.model is None:
        args.model = base.model


def _time_budget(text: str | None) -> float | None:
    return parse_duration(text)  # a ValueError names the text (main: exit status 2)


def _or(value, default):
    return default if value is None else value


def _config(args) -> TrainConfig:
    """The settings: ``--config``'s file (else the defaults), each flag given winning."""
    base = args.base
    given = {
        "data": args.source,
        "model": args.model,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "learning_rate": args.lr,
        "optimizer": args.optimizer,
        "schedule": args.schedule,
        "patience": args.patience,
        "seed": args.seed,
        "label": args.label,
        "image_size": _image_size(args.image_size),
        "data_dir": args.data_dir,
        "augment": args.augment,
        "precision": args.precision,
        "weights": str(Path(args.weights).resolve()) if args.weights else None,
        "steps_per_execution": args.steps_per_execution,
        "model_kwargs": _model_args(args.model_arg) if args.model_arg else None,
        "devices": check_devices(args.devices),
        "time_budget": _time_budget(args.time_budget),
    }
    return replace(base, **{k: v for k, v in given.items() if v is not None})


def _checked(args) -> TrainConfig:
    """The run's settings, the data source and the export formats checked before
    TensorFlow loads: a typo answers at once, naming the value and the fix."""
    config = validate(_config(args))
    check_source(config.data)
    check_export_backend(_formats(args))
    import_tensorflow_quietly()  # all checked: now the slow part, without its INFO lines
    return config


def _join_cluster(args) -> None:
    """A multi-machine run (JAX) joined before anything touches a device."""
    from zoo.distribute import initialize_cluster

    if initialize_cluster(args.coordinator, args.num_processes, args.process_id):
        which = "from the environment" if args.process_id is None else args.process_id
        print(f"joined the cluster as process {which}")


def _cmd_recipe(args) -> int:
    config = _checked(args)
    from zoo.recipe.main import run_recipe

    _join_cluster(args)
    result = run_recipe(
        config,
        run_dir=args.run_dir,
        verbose=2 if args.verbose else 0,
        formats=_formats(args),
        overwrite=args.overwrite,
        keep=_given(args),
        progress=not args.verbose,
    )
    print(f"run folder: {result['run_dir']} (report.html, report.md, metrics.json, export/)")
    print(f"total {result['total_seconds']:.0f}s")
    if not result["passed"]:
        failed = [k for k, v in result["checks"].items() if not v["passed"]]
        print(f"checks failed: {', '.join(failed)} (see report.md)", file=sys.stderr)
        return 1 if args.strict else 0
    return 0


def _cmd_train(args) -> int:
    config = _checked(args)
    from zoo.run import train_and_export

    _join_cluster(args)
    print(f"training {config.model or 'convnet/mlp'} on {config.data}", flush=True)
    result = train_and_export(
        config,
        run_dir=args.run_dir,
        verbose=2 if args.verbose else 0,
        formats=_formats(args),
        overwrite=args.overwrite,
        say=lambda line: print(line, flush=True),
        keep=_given(args),
        progress=not args.verbose,
    )
    test = ", ".join(f"{k} {v:.4f}" for k, v in result["test"].items() if k in _HEADLINE_METRICS)
    now = result["epochs_this_session"]
    resumed = (
        f" ({now} in this session, after {result['resumed_from']} before the interruption)"
        if result["resumed_from"]
        else ""
    )
    print(f"{result['epochs_run']} epochs{resumed} in {result['train_seconds']:.1f}s; test: {test}")
    if result.get("bias_variance"):
        bv = result["bias_variance"]
        print(f"{bv['verdict']}: {bv['diagnosis']}")
    _print_export(result["export"])
    print(f"run folder: {result['run_dir']}")
    return 0


def _formats(args) -> tuple[str, ...]:
    tflite = {None: (), "float32": ("tflite",), "int8": ("tflite", "tflite_int8")}[args.tflite]
    return ("savedmodel",) + (("onnx",) if args.onnx else ()) + tflite


def _print_export(export: dict) -> None:
    if export.get("format") == "onnx":  # the PyTorch backend's export
        diff = max(export["max_abs_diff"].values())
        print(f"ONNX {export['path']}: verified in a fresh onnxruntime process (max |diff| "
              f"{diff:.1e})")  # fmt: skip
        return
    for name, record, runtime in (
        ("SavedModel", export, "TensorFlow"),
        ("ONNX", export.get("onnx"), "onnxruntime"),
        ("TFLite", export.get("tflite"), "TFLite interpreter"),
    ):
        if record:
            diff = max(record["max_abs_diff"].values())
            print(
                f"{name} {record['path']}: verified in a fresh {runtime} process "
                f"(max |diff| {diff:.1e})"
            )
    if export.get("tflite_int8"):
        from zoo.quantize import int8_line

        print(int8_line(export["tflite_int8"]))


def _cmd_export(args) -> int:
    import_tensorflow_quietly()
    from zoo.runs import export_run

    export = export_run(args.run_dir, formats=_formats(args))
    _print_export(export)
    print(export["signature"])
    return 0


def _cmd_predict(args) -> int:
    if args.inputs != "-" and not Path(args.inputs).exists():
        raise ValueError(f"{args.inputs}: no such file or folder (give a CSV, an image, a "
                         "folder of images, or - for CSV on stdin).")  # fmt: skip
    import_tensorflow_quietly()
    from zoo.predict import predict_run

    rows = predict_run(args.run_dir, args.inputs, out=args.out,
                       say=lambda line: print(line, file=sys.stderr, flush=True))  # fmt: skip
    if args.out:
        print(f"{rows} prediction(s) written to {args.out}", file=sys.stderr)
    return 0


def _cmd_lr_find(args) -> int:
    base = args.base
    config = validate(replace(
        base, data=args.source, model=args.model, seed=args.seed, label=args.label,
        data_dir=args.data_dir, image_size=_image_size(args.image_size),
        batch_size=_or(args.batch_size, base.batch_size),
        optimizer=_or(args.optimizer, base.optimizer), schedule="constant",
    ))  # fmt: skip
    check_source(config.data)
    import_tensorflow_quietly()
    from zoo.lr_find import lr_find
    from zoo.plots import lr_find_plot
    from zoo.run import load_for
    from zoo.train import build_fn

    config, loaded = load_for(config)
    print(f"learning-rate range test: {config.model} on {config.data}, {config.optimizer}, "
          f"batch {config.batch_size}, {args.steps} steps at most", flush=True)  # fmt: skip
    test = lr_find(build_fn(config, loaded), loaded.train, steps=args.steps)
    folder = (
        Path(args.run_dir)
        if args.run_dir
        else new_run_dir(f"lr-find-{config.model}-{loaded.data.name}")
    )
    folder.mkdir(parents=True, exist_ok=True)
    write_json(folder / "lr_find.json", test.record())
    lr_find_plot(test, folder / "lr_find.png")
    print(test.line())
    print(f"plot: {folder / 'lr_find.png'}; numbers: {folder / 'lr_find.json'}")
    return 0


def _cmd_evaluate(args) -> int:
    import_tensorflow_quietly()
    from zoo.runs import evaluate_run

    ev, folder = evaluate_run(args.run_dir, args.source)
    print(f"evaluated {args.run_dir}" + (f" on {args.source}" if args.source else ""))
    for line in ev.lines():
        print("  " + line)
    plots = ", ".join(p.name for p in ev.plots.values())
    print(f"report: {folder / 'evaluation.md'} (plots: {plots}); figures in metrics.json")
    return 0


def _cmd_check(args) -> int:
    problem = script_problem(Path(args.script))
    if problem:  # nothing run, nothing written, before Keras loads
        print(f"zoo check: {problem}", file=sys.stderr)
        return 2
    if misplaced_check_options(args.args):  # a note: the script may have them too
        print(f"zoo check: {misplaced_check_options(args.args)}", file=sys.stderr)
    import_tensorflow_quietly()
    from zoo import interrupts
    from zoo.checks.script import check_script, write_check

    out = Path(args.out) if args.out else new_run_dir(f"check-{Path(args.script).stem}")
    found = check_script(
        args.script,
        args.args,
        train=args.train,
        say=lambda line: print(line, flush=True),
        budget=args.budget or None,
        on_checked=lambda f: write_check(f, out),
        fix_trials=args.fix_trials, seed=args.seed,
    )
    interrupts.state.in_fit = True  # a signal now waits until the report is written
    write_check(found, out)
    if interrupts.state.pending is not None and found.code < 128:
        found.code = 128 + interrupts.state.pending
        found.problem = found.problem or "stopped by a signal after the checks."
    if found.problem:
        print(f"zoo check: {found.problem} Report: {out / 'check.md'}", file=sys.stderr)
    else:
        print(f"report: {out / 'check.md'}, {out / 'check.json'}")
    return found.code


def _cmd_compare(args) -> int:
    from zoo.runs import compare_runs

    print(compare_runs(args.run_dirs))
    return 0


def _cmd_tune(args) -> int:
    if not args.show_space:
        check_source(args.source)  # before Keras Tuner and TensorFlow load
    if args.model is not None:
        validate(TrainConfig(model=args.model))
    import_tensorflow_quietly()
    # zoo's CLI reaches into tuning only here, at run time (tuning depends on zoo).
    from tuning.search import random_search
    from tuning.spaces import SPACES, describe, family_of, parse_space

    if args.show_space:
        family = family_of(args.model or "convnet")
        print(describe(parse_space(args.space, SPACES[family])))
        return 0
    print(
        f"{args.algorithm} search: {args.trials} trials of at most {args.epochs} epochs on "
        f"{args.source}" + (f", {args.workers} worker processes" if args.workers else ""),
        flush=True,
    )
    result = random_search(
        args.source,
        args.model,
        trials=args.trials,
        epochs=args.epochs,
        directory=args.dir,
        overwrite=args.overwrite,
        seed=args.seed,
        space=args.space,
        objective=args.objective,
        label=args.label,
        image_size=_image_size(args.image_size),
        data_dir=args.data_dir,
        workers=args.workers,
        algorithm=args.algorithm,
        say=lambda line: print(line, flush=True),
    )
    if result.role == "worker":
        return 0
    print(
        f"{result.directory}: results.md, results.csv, objective.png, hyperparameters.png"
        + (", best/ (retrained, evaluated, exported)" if result.test else "")
    )
    return 0 if result.best else 1


_HEADLINE_METRICS = ("loss", "accuracy", "macro_f1", "roc_auc", "ece", "mae", "rmse", "r2")


COMMANDS = {
    "models": _cmd_models,
    "inspect": _cmd_inspect,
    "recipe": _cmd_recipe,
    "train": _cmd_train,
    "tune": _cmd_tune,
    "evaluate": _cmd_evaluate,
    "predict": _cmd_predict,
    "lr-find": _cmd_lr_find,
    "export": _cmd_export,
    "bench": _cmd_bench,
    "check": _cmd_check,
    "compare": _cmd_compare,
}


@contextlib.contextmanager
def each_warning_once():
    """Each warning shown once per command: Python shows a warning again whenever its
    text differs (Keras' "The structure of `inputs` doesn't match", with each batch's
    shape in it, came 8 times in a run); here one whose category and first line (its
    numbers aside) were shown already is left out."""
    shown, show = set(), warnings.showwarning

    def once(message, category, filename, lineno, file=None, line=None):
        first = str(message).splitlines()[0] if str(message) else ""
        key = (category, re.sub(r"\d+", "N", first))  # "shape (1, 1)" and "(4, 1)": one
        if key not in shown:
            shown.add(key)
            show(message, category, filename, lineno, file, line)

    warnings.showwarning = once
    try:
        yield
    finally:
        warnings.showwarning = show


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # the subcommand's usage, with the flags it has that come close
        refuse_unknown(parser, args.command, unknown)
    if hasattr(args, "config"):
        try:
            _fill(args)
        except ValueError as err:
            print(f"zoo {args.command}: {err}", file=sys.stderr)
            return 2
    if args.version:
        print(f"zoo {__version__}")
        return 0
    if not args.command:
        parser.print_help()
        return 0
    # TensorFlow's C++ logging: hide info and warnings; on a machine with no NVIDIA
    # driver also hide the harmless "failed call to cuInit" error it prints at start.
    os.environ.setdefault(
        "TF_CPP_MIN_LOG_LEVEL", "2" if os.path.exists("/proc/driver/nvidia") else "3"
    )
    try:
        with stop_cleanly(), each_warning_once():
            return COMMANDS[args.command](args)
    except ValueError as err:
        print(f"zoo {args.command}: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as err:  # Ctrl-C or SIGTERM (zoo.interrupts)
        print(f"zoo {args.command}: {_interrupted(err)}", file=sys.stderr)
        return getattr(err, "code", 130)
    except BrokenPipeError:  # `zoo models | head`
        sys.stderr.close()
        return 0


def _interrupted(err: KeyboardInterrupt) -> str:
    """What was kept and how to go on, after a signal stopped a command."""
    text = str(err) or "stopped by Ctrl-C (SIGINT)"
    run = current_run()
    if run is None:
        return text + "."
    done = epochs_logged(run)
    backup = (run / "backup").is_dir()
    kept = (
        f"the backup holds {done} finished epoch(s); run the same command again (same "
        "--run-dir) to resume from there"
        if backup and done
        else "run the same command again (same --run-dir) to go on"
    )
    return f"{text}. What was written is kept in {run}: {kept}."


if __name__ == "__main__":
    sys.exit(main())
