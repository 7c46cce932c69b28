"""The `zoo` command's parser: every subcommand with its flags and their help. The
defaults come from ``zoo.config.TrainConfig``; nothing here loads TensorFlow or Keras,
so `zoo --help` is instant. ``zoo.cli`` runs what it parses."""

from __future__ import annotations

import argparse
import difflib

from zoo.config import DEFAULTS


def data_args(p) -> None:
    p.add_argument(
        "source",
        nargs="?",
        default=None,
        help="bundled data set (digits, the default; breast_cancer, wine, iris, diabetes), "
        "tfds:NAME, a folder of class folders of images, or a CSV file",
    )
    p.add_argument("--label", default=None, help="label column of a CSV source (default: label)")
    p.add_argument("--data-dir", default=None, help="TFDS data folder (default $TFDS_DATA_DIR)")
    p.add_argument("--image-size", default=None, help="decode images to HxW (e.g. 64x64)")
    p.add_argument(
        "--config",
        default=None,
        metavar="FILE",
        help="settings from a JSON or TOML file (a run's config.json reproduces the run); "
        "flags given beside it win",
    )


def training_args(p) -> None:
    data_args(p)
    p.add_argument(
        "--model",
        default=None,
        help="registered model (default: convnet for images, mlp for tabular data)",
    )
    p.add_argument(
        "--model-arg",
        action="append",
        default=None,
        metavar="KEY=VALUE",
        help="an argument of the model (repeatable): e.g. dropout=0.2, hidden=[64,64], "
        "regularizer=l2:1e-4, width_multiplier=0.5",
    )
    p.add_argument(
        "--epochs",
        type=int,
        default=None,
        help=f"most epochs (default {DEFAULTS.epochs}, or as many as fit --time-budget; "
        "early stopping ends sooner)",
    )
    p.add_argument(
        "--time-budget",
        default=None,
        metavar="DURATION",
        help="time for the whole run, e.g. 10m, 90s, 1h30m: the epochs are sized to fit "
        "it from a measured training step, the learning rate decays to zero at the last",
    )
    p.add_argument(
        "--patience",
        type=int,
        default=None,
        help=f"epochs without a better validation loss before stopping "
        f"(default {DEFAULTS.patience})",
    )
    p.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help=f"default {DEFAULTS.batch_size}; 128 for an image set of 10,000 training "
        "images or more",
    )
    p.add_argument(
        "--lr",
        type=float,
        default=None,
        help=f"learning rate (default {DEFAULTS.learning_rate:g}; 2e-3 for images with a time "
        "budget)",
    )
    p.add_argument(
        "--optimizer",
        default=None,
        help=f"adam, adamw, sgd or rmsprop (default {DEFAULTS.optimizer})",
    )
    p.add_argument(
        "--schedule",
        default=None,
        help=f"constant, step, exponential, cosine or plateau (default {DEFAULTS.schedule}; "
        "cosine for images with a time budget)",
    )
    p.add_argument(
        "--augment",
        default=None,
        help="e.g. flip,translate,rotate (images only; default none, translate when a "
        "time budget allows 8 epochs or more)",
    )
    p.add_argument(
        "--weights",
        default=None,
        metavar="FILE",
        help="a published weight file for --model resnet18-152 / vgg11-19(_bn): "
        "torchvision's .pth, keras.applications' VGG .h5 (zoo bundles none); images are "
        "then preprocessed as the file expects",
    )
    p.add_argument(
        "--precision",
        default=None,
        help="float32, mixed_bfloat16 or mixed_float16 (default: float32; mixed_bfloat16 "
        "for large image sets where the machine has bfloat16 units: AMX CPUs, GPUs)",
    )
    p.add_argument(
        "--steps-per-execution",
        type=int,
        default=DEFAULTS.steps_per_execution,
        help="training steps per call into the backend (default: 8 on TensorFlow and JAX, "
        "where small models run 1.2-1.5x faster than with 1; 1 on PyTorch)",
    )
    p.add_argument("--seed", type=int, default=None, help=f"default {DEFAULTS.seed}")
    p.add_argument("--run-dir", default=None, help="run folder (default runs/<name>-<time>)")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="start the run folder over (it holds a finished run, another run's settings, or "
        "a backup that cannot be resumed); an interrupted run resumes without it",
    )
    p.add_argument(
        "--devices",
        default=None,
        help="devices to train on: N or all (keras.distribution on JAX, MirroredStrategy on "
        "TensorFlow); --batch-size is the global batch, --lr unchanged (default: one)",
    )
    p.add_argument(
        "--coordinator",
        default=None,
        help="several machines (JAX): host:port of process 0 "
        "(else KERAS_DISTRIBUTION_JOB_ADDRESSES)",
    )
    p.add_argument("--num-processes", type=int, default=None, help="machines in the run (JAX)")
    p.add_argument("--process-id", type=int, default=None, help="this machine's rank, 0 first")
    p.add_argument("-v", "--verbose", action="store_true", help="a line per epoch")
    format_args(p)


def format_args(p) -> None:
    p.add_argument("--onnx", action="store_true", help='also export ONNX (pip install "zoo[onnx]")')
    p.add_argument(
        "--tflite",
        nargs="?",
        const="float32",
        choices=("float32", "int8"),
        default=None,
        help="also export TFLite; --tflite int8 adds a full-integer quantized file, scored "
        "beside the float32 one (test accuracy, latency per image, size)",
    )


def _seed(text: str) -> int | None:
    """``--seed``: an integer, or ``none``."""
    if text.strip().lower() == "none":
        return None
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer or 'none'") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="zoo",
        description="A Keras model zoo that runs the training recipe's sanity checks for you.",
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    parser.commands = sub.choices  # name -> subcommand parser (refuse_unknown)

    p = sub.add_parser("models", help="list the registered models with their sizes")
    p.add_argument("--family", help="only this family (resnet, vgg, cifar_resnet, ...)")
    p.add_argument("--sources", action="store_true", help="also say where each figure is from")

    p = sub.add_parser(
        "inspect",
        help="the data report: classes, duplicates and leakage, feature scales, outliers, plots",
    )
    data_args(p)
    p.add_argument("--seed", type=int, default=None, help="the split seed (as in recipe)")
    p.add_argument(
        "--run-dir", default=None, help="output folder (default runs/inspect-<data>-<time>)"
    )

    p = sub.add_parser(
        "recipe",
        help="the whole recipe: data report, sanity checks, training, export (the main job)",
    )
    training_args(p)
    p.add_argument(
        "--strict", action="store_true", help="exit with status 1 when a sanity check fails"
    )

    p = sub.add_parser("train", help="train, evaluate on test, export and verify (no checks)")
    training_args(p)

    p = sub.add_parser(
        "tune",
        help="Keras Tuner random search over a zoo model's hyperparameters (resumable)",
    )
    data_args(p)
    p.add_argument("--model", default=None, help="default: convnet for images, mlp for tables")
    p.add_argument("--trials", type=int, default=20)
    p.add_argument("--epochs", type=int, default=20, help="most epochs per trial")
    p.add_argument(
        "--space",
        action="append",
        default=None,
        metavar="NAME=SPEC",
        help="narrow or widen one hyperparameter: NAME=LOW:HIGH, NAME=A,B,C or NAME=VALUE "
        "(repeatable; --show-space lists them)",
    )
    p.add_argument("--objective", default="val_data_loss", help="default val_data_loss")
    p.add_argument("--dir", default=None, help="search folder (default runs/tune-<model>-<data>)")
    p.add_argument("--overwrite", action="store_true", help="start over instead of resuming")
    p.add_argument("--seed", type=int, default=None, help=f"non-zero (default {DEFAULTS.seed})")
    p.add_argument("--show-space", action="store_true", help="print the space and exit")
    p.add_argument(
        "--workers",
        type=int,
        default=0,
        help="run trials in N worker processes on this machine, each with its share of the "
        "cores (default 0: in this process); for several machines see the README",
    )
    p.add_argument(
        "--algorithm",
        choices=["random", "grid"],
        default="random",
        help="random (the default, as the notes advise) or grid",
    )

    p = sub.add_parser(
        "evaluate",
        help="per-class figures, confusion matrix, top losses, calibration or residuals, "
        "bias and variance of a finished run",
    )
    p.add_argument("run_dir", help="a run folder written by zoo recipe, zoo train or a template")
    p.add_argument(
        "source",
        nargs="?",
        default=None,
        help="other data with the same classes or target (default: the run's test split)",
    )

    p = sub.add_parser(
        "lr-find",
        help="the learning-rate range test: loss against an exponentially growing rate, "
        "a suggested rate with its rule, the plot",
    )
    data_args(p)
    p.add_argument("--model", default=None, help="default: convnet for images, mlp for tables")
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--optimizer", default=None, help=f"default {DEFAULTS.optimizer}")
    p.add_argument("--steps", type=int, default=200, help="most steps of the sweep (200)")
    p.add_argument("--seed", type=int, default=None, help=f"default {DEFAULTS.seed}")
    p.add_argument("--run-dir", default=None, help="output folder (default runs/lr-find-...)")

    p = sub.add_parser(
        "predict",
        help="a finished run's exported model on new inputs: class and probabilities (or "
        "the value) per row, as CSV",
    )
    p.add_argument("run_dir", help="a run folder with export/ (zoo train, recipe, a template)")
    p.add_argument(
        "inputs", help="a CSV of feature rows (- for stdin), an image, or a folder of images"
    )
    p.add_argument("--out", default=None, help="CSV file to write (default: stdout)")

    p = sub.add_parser(
        "export",
        help="export a finished run again: SavedModel, optionally ONNX and TFLite, verified",
    )
    p.add_argument("run_dir", help="a run folder written by zoo recipe, zoo train or a template")
    format_args(p)

    p = sub.add_parser(
        "bench",
        help="run a benchmark from benchmarks/ (speed, accuracy, tuning, ...) and rebuild "
        "docs/benchmarks.md; with no name, list them",
    )
    p.add_argument("name", nargs="?", default=None, help="a benchmark, or docs")
    p.add_argument("args", nargs=argparse.REMAINDER, help="passed to the benchmark script")

    p = sub.add_parser(
        "check",
        help="the recipe's checks on your own Keras training script: its first model.fit is "
        "checked (model, data, loss, optimizer, batch size) before training",
    )
    p.add_argument("--train", action="store_true", help="let the script train after the checks")
    p.add_argument("--out", default=None, help="report folder (default runs/check-<script>-<time>)")
    p.add_argument(
        "--budget", type=float, default=60.0,
        help="seconds the checks may spend (default 60; their batch and steps are sized from "
        "a measured training step; 0: no limit)",
    )
    p.add_argument(
        "--no-fix-trial", dest="fix_trials", action="store_false",
        help="do not try each root cause's fix on a copy (the fix trial re-runs the failing "
        "checks with the fix applied, to show it works)",
    )
    p.add_argument(
        "--seed", type=_seed, default=1,
        help="random seed set before the script runs, so an unseeded script gets the same "
        "initial weights and verdicts each time (default 1; 'none': unseeded, as python runs "
        "it; a seed the script sets wins)",
    )
    p.add_argument("script", help="a Python file that builds a Keras model and calls fit")
    p.add_argument("args", nargs=argparse.REMAINDER, help="the script's own arguments")

    p = sub.add_parser("compare", help="the test figures of several runs side by side")
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")
    return parser


def refuse_unknown(parser: argparse.ArgumentParser, command: str | None, unknown: list[str]):
    """Exit (status 2) on arguments no parser took, with the subcommand's usage and,
    for a flag, the subcommand's flags that come close (``--epoch`` -> ``--epochs``)."""
    target = parser.commands.get(command, parser) if command else parser
    flags = [s for a in target._actions for s in a.option_strings]
    hints = []
    for arg in unknown:
        if arg.startswith("-"):
            close = difflib.get_close_matches(arg.split("=")[0], flags, n=2, cutoff=0.75)
            if close:
                hints.append(f"{arg}: did you mean {' or '.join(close)}?")
    message = f"unrecognized arguments: {' '.join(unknown)}"
    target.error(message + ("; " + "; ".join(hints) if hints else ""))


CHECK_OPTIONS = ("--out", "--budget", "--train", "--no-fix-trial", "--seed")


def misplaced_check_options(script_args: list[str]) -> str:
    """A note on ``zoo check``'s own options found after the script name (which go to
    the script, as with python); empty when there are none."""
    own = [a.split("=")[0] for a in script_args if a.split("=")[0] in CHECK_OPTIONS]
    if not own:
        return ""
    return (f"{', '.join(own)} after the script name goes to the script, as with python; zoo "
            "check's own options go before it: zoo check --out DIR train.py")
