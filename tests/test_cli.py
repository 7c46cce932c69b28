import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from zoo.checks import ALL_CHECKS
from zoo.cli import build_parser, main
from zoo.run import schema_problems


def test_help_is_fast_and_imports_no_tensorflow():
    code = (
        "import sys, time; t = time.perf_counter(); from zoo.cli import build_parser; "
        "build_parser().format_help(); "
        "print(time.perf_counter() - t, 'tensorflow' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    assert float(out[0]) < 1.0 and out[1] == "False"
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "zoo.cli", "--help"], capture_output=True, text=True
    )
    assert done.returncode == 0 and "recipe" in done.stdout and "models" in done.stdout
    assert time.perf_counter() - start < 5.0  # interpreter start included, generous on CI


def test_models_table(capsys):
    assert main(["models", "--family", "resnet", "--sources"]) == 0
    out = capsys.readouterr().out
    assert "25,557,032" in out and "resnet152" in out and "torchvision" in out
    assert "vgg16" not in out


def test_unknown_family_is_a_clear_error(capsys):
    assert main(["models", "--family", "nope"]) == 2
    assert "families" in capsys.readouterr().err


def test_recipe_end_to_end_on_tiny_budget(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["recipe", "iris", "--epochs", "2", "--run-dir", str(run)]) == 0
    out = capsys.readouterr().out
    for stage in ("[1/5] data", "[2/5] skeleton", "[3/5] train", "[4/5] evaluate", "[5/5] export"):
        assert stage in out
    n = len(ALL_CHECKS)
    assert "[pass] overfit_one_batch" in out and f"{n}/{n} checks passed" in out
    for name in [
        "config.json",
        "history.csv",
        "curves.png",
        "best.keras",
        "model.keras",
        "metrics.json",
        "report.md",
        "report.html",
        "batch.png",
        "prediction_dynamics.png",
        "data/report.md",
        "evaluation.md",
        "confusion_matrix.png",
        "reliability.png",
        "export/saved_model.pb",
        "model_summary.txt",
    ]:
        assert (run / name).exists(), name
    summary = (run / "model_summary.txt").read_text()
    assert "Param #" in summary and "Trainable parameters (zoo models' count): 34,563" in summary
    assert not (run / "backup").exists()  # removed once training completed
    metrics = json.loads((run / "metrics.json").read_text())
    assert 0.0 <= metrics["test"]["accuracy"] <= 1.0 and metrics["epochs_run"] == 2
    assert metrics["checks"]["loss_at_init"]["passed"] and metrics["passed"] is True
    assert not schema_problems(metrics), schema_problems(metrics)
    assert "macro_f1" in metrics["test"] and metrics["bias_variance"]["verdict"]
    page = (run / "report.html").read_text()
    assert "4. Evaluation" in page and "Bias and variance" in page
    assert 'href="data/report.html"' in page and "None" not in page.split("<table>")[1]
    assert "data:image/png;base64," in (run / "data" / "report.html").read_text()
    assert page.count("data:image/png;base64,") >= 3 and "<table>" in page


@pytest.mark.slow  # the failing baseline itself: tests/test_recipe_checks.py
def test_recipe_strict_exits_nonzero_when_a_check_fails(tmp_path, capsys):
    rows = ["a,b,label"] + [f"{i % 7},{(i * 3) % 5},{i % 2}" for i in range(120)]
    path = tmp_path / "noise.csv"
    path.write_text("\n".join(rows))  # labels unrelated to the features
    code = main(
        ["recipe", str(path), "--epochs", "2", "--strict", "--run-dir", str(tmp_path / "r")]
    )
    assert code == 1
    err = capsys.readouterr().err
    assert "checks failed" in err and "input_independent_baseline" in err
    assert "FAIL" in (tmp_path / "r" / "report.md").read_text()


def test_train_command(tmp_path, capsys):
    run = tmp_path / "t"
    argv = ["train", "wine", "--epochs", "3", "--steps-per-execution", "4", "--run-dir", str(run),
            "--model-arg", "hidden=[8]", "--model-arg", "dropout=0.1"]  # fmt: skip
    assert main(argv) == 0
    assert "verified in a fresh TensorFlow process" in capsys.readouterr().out
    assert (run / "tensorboard").is_dir()
    config = json.loads((run / "config.json").read_text())
    assert config["steps_per_execution"] == 4 and config["precision"] is None
    assert config["model_kwargs"] == {"hidden": [8], "dropout": 0.1}
    from zoo import load_network

    dense = [w.shape for w in load_network(run / "model.keras").trainable_weights]
    assert dense[0] == (13, 8)  # wine's 13 features into the one hidden layer of 8
    assert len((run / "history.csv").read_text().splitlines()) == 1 + 3  # every epoch logged
    metrics = json.loads((run / "metrics.json").read_text())
    assert not schema_problems(metrics), schema_problems(metrics)
    assert metrics["passed"] is None and metrics["checks"] == {} and metrics["devices"] == 1
    # zoo predict: the run's export on new raw rows (a CSV with a header, or stdin)
    from sklearn.datasets import load_wine

    wine = load_wine()
    table = tmp_path / "new.csv"
    lines = [",".join(wine.feature_names)]
    lines += [",".join(map(str, row)) for row in wine.data[:12]]
    table.write_text("\n".join(lines) + "\n")
    out = tmp_path / "pred.csv"
    assert main(["predict", str(run), str(table), "--out", str(out)]) == 0
    rows = out.read_text().splitlines()
    assert rows[0] == "row,class," + ",".join(f"p_{c}" for c in wine.target_names)
    assert len(rows) == 13
    probs = np.array([[float(v) for v in r.split(",")[2:]] for r in rows[1:]])
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    predicted = [r.split(",")[1] for r in rows[1:]]
    assert all(name in wine.target_names for name in predicted)
    done = subprocess.run(
        [sys.executable, "-m", "zoo.cli", "predict", str(run), "-"],
        input="\n".join(lines[1:]) + "\n", capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines()[1:] == rows[1:]  # headerless rows from stdin: the same
    assert main(["predict", str(run), str(tmp_path / "none.csv")]) == 2
    bad = ["train", "wine", "--steps-per-execution", "0", "--run-dir", str(tmp_path / "b")]
    assert main(bad) == 2
    assert "steps_per_execution=0 must be an integer >= 1" in capsys.readouterr().err
    assert not (tmp_path / "b").exists()  # refused before anything is written
    on_torch = ["train", "wine", "--steps-per-execution", "8", "--run-dir", str(tmp_path / "b")]
    from zoo import config as zoo_config

    real = zoo_config.resolve_steps_per_execution
    zoo_config.resolve_steps_per_execution = lambda v: real(v, backend="torch")
    try:
        assert main(on_torch) == 2
    finally:
        zoo_config.resolve_steps_per_execution = real
    assert "the PyTorch backend runs one training step per call" in capsys.readouterr().err
    assert not (tmp_path / "b").exists()  # refused before anything is written
    bad = ["train", "wine", "--precision", "bf16", "--run-dir", str(tmp_path / "b")]
    assert main(bad) == 2 and "precision='bf16' must be one of" in capsys.readouterr().err
    bad = ["train", "wine", "--model-arg", "widht=3", "--run-dir", str(tmp_path / "b")]
    assert main(bad) == 2 and "unknown argument(s) widht" in capsys.readouterr().err
    bad = ["train", "wine", "--model-arg", "dropout", "--run-dir", str(tmp_path / "b")]
    assert main(bad) == 2 and "give KEY=VALUE" in capsys.readouterr().err
    assert not (tmp_path / "b").exists()


@pytest.mark.slow  # 13 s; the plan's rules and the budget's stops are unit-tested in test_plan
def test_train_on_a_folder_chooses_settings_and_fits_the_time_budget(
    tmp_path, capsys, image_folder
):
    root = image_folder()
    run = tmp_path / "t"
    argv = ["train", str(root), "--time-budget", "1m", "--epochs", "3",
            "--model", "tiny_convnet", "--run-dir", str(run)]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "chosen from the data: schedule cosine: a time budget" in out
    assert "time budget 1 min 0 s: 3 epoch(s) of about" in out  # --epochs caps the plan
    assert "/3" in out  # the bar over the epochs
    config = json.loads((run / "config.json").read_text())
    assert (config["model"], config["schedule"], config["time_budget"]) == (
        "tiny_convnet",
        "cosine",
        60.0,
    )
    assert len((run / "history.csv").read_text().splitlines()) == 1 + 3
    bad = ["train", "wine", "--time-budget", "ten minutes", "--run-dir", str(tmp_path / "b")]
    assert main(bad) == 2 and "time budget 'ten minutes'" in capsys.readouterr().err
    assert not (tmp_path / "b").exists()


def test_model_args_read_literals_and_keep_text():
    from zoo.cli import _model_args

    assert _model_args(["dropout=0.2", "hidden=[64, 32]", "regularizer=l2:1e-4"]) == {
        "dropout": 0.2,
        "hidden": [64, 32],
        "regularizer": "l2:1e-4",
    }
    assert _model_args(["batch-norm=true", "pooling=none", "width_multiplier=(1)"]) == {
        "batch_norm": True,
        "pooling": None,
        "width_multiplier": 1,
    }


def test_cli_defaults_are_train_config_defaults():
    from zoo.cli import build_parser
    from zoo.config import TrainConfig

    args = build_parser().parse_args(["train"])
    from zoo.cli import _config, _fill

    _fill(args)  # no --config: the defaults
    assert _config(args) == TrainConfig()


@pytest.mark.parametrize(
    "argv,words",
    [(["digitz"], "Did you mean digits"), (["--model", "resnet05"], "Did you mean resnet50")],
)
def test_recipe_bad_input_is_named_and_writes_nothing(argv, words, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["recipe", *argv, "--epochs", "1"]) == 2
    assert words in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_recipe_defaults_reach_99_percent_on_digits_with_every_check_passing(tmp_path):
    from zoo.recipe.main import run_recipe

    result = run_recipe(run_dir=tmp_path / "run", say=lambda line: None)
    assert result["passed"] and result["test"]["accuracy"] >= 0.99


@pytest.mark.parametrize(
    "argv, words",
    [
        (["train", "wien"], "Did you mean wine?"),
        (["recipe", "irsi", "--epochs", "1"], "Did you mean iris?"),
        (["train", "digits", "--epohcs", "3"], "--epohcs: did you mean --epochs?"),
        (["recipe", "digits", "--model", "resnet05"], "Did you mean resnet50"),
        (["train", "nowhere/data.csv"], "nowhere/data.csv does not exist"),
        (["tune", "wien"], "Did you mean wine?"),
        (["check", "nothere.py"], "nothere.py: no such script"),
        (
            ["train", "digits", "--model", "convnet", "--model-arg", "widht_multiplier=0.5"],
            "widht_multiplier: did you mean width_multiplier?",
        ),
    ],
)
def test_a_first_mistake_is_answered_before_tensorflow_loads(argv, words, tmp_path):
    """A new user's typo (a data set, a flag, a model, a path) is answered in a fresh
    process without loading TensorFlow or Keras, naming the value and the fix, with the
    subcommand's own usage for a flag; nothing is written."""
    code = (
        "import sys; from zoo.cli import main\n"
        "try:\n    status = main(sys.argv[1:])\nexcept SystemExit as e:\n    status = e.code\n"
        "heavy = [m for m in ('tensorflow', 'keras') if m in sys.modules]\n"
        "print('HEAVY', heavy, 'STATUS', status)"
    )
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", code, *argv], capture_output=True, text=True, cwd=tmp_path
    )
    seconds = time.perf_counter() - start
    assert "HEAVY [] STATUS 2" in done.stdout, done.stdout + done.stderr[-2000:]
    assert words in done.stderr
    if "--epohcs" in argv:
        assert done.stderr.startswith("usage: zoo train")
    assert list(tmp_path.iterdir()) == []
    assert seconds < 10  # about 0.3 s here; loading TensorFlow alone takes 5


def test_config_file_reproduces_a_run_and_flags_beside_it_win(tmp_path, capsys):
    """`--config` takes a run's config.json (or a hand-written JSON/TOML file): the
    settings it holds are the run's, a flag given beside it wins, and an unreadable
    file or unknown key is named before anything is written."""
    from zoo.config import read_config

    first = tmp_path / "first"
    argv = ["train", "iris", "--epochs", "2", "--lr", "0.01", "--seed", "7",
            "--model-arg", "hidden=[8]", "--run-dir", str(first)]  # fmt: skip
    assert main(argv) == 0
    again = tmp_path / "again"
    assert main(["train", "--config", str(first / "config.json"), "--run-dir", str(again)]) == 0
    assert read_config(again) == read_config(first)  # the same settings
    # (run as two commands, the two give the same test loss to the last digit: 0.84407)
    toml = tmp_path / "run.toml"
    toml.write_text('data = "wine"\nlearning_rate = 0.003\nepochs = 5\n')
    from zoo.cli import _config, _fill, _given

    args = build_parser().parse_args(["recipe", "--config", str(toml), "--epochs", "1"])
    _fill(args)
    written = _config(args)
    assert (written.data, written.learning_rate, written.epochs) == ("wine", 0.003, 1)
    assert _given(args) == {"learning_rate", "epochs"}  # zoo chooses none of the file's
    capsys.readouterr()
    bad = tmp_path / "bad.json"
    bad.write_text('{"data": "iris", "lerning_rate": 0.1}')
    assert main(["recipe", "--config", str(bad), "--run-dir", str(tmp_path / "x")]) == 2
    assert "lerning_rate: did you mean learning_rate?" in capsys.readouterr().err
    assert main(["train", "--config", str(tmp_path / "none.json")]) == 2
    assert "--config" in capsys.readouterr().err and not (tmp_path / "x").exists()


@pytest.mark.slow  # 15 s: a small image run trained and exported first
def test_predict_on_a_folder_of_images(tmp_path, image_folder):
    """`zoo predict` on images decodes each file to the model's size and names it."""
    folder = image_folder(n=10)
    run = tmp_path / "run"
    assert main(["train", str(folder), "--model", "tiny_convnet", "--epochs", "8",
                 "--lr", "0.01", "--run-dir", str(run)]) == 0  # fmt: skip
    out = tmp_path / "pred.csv"
    assert main(["predict", str(run), str(folder), "--out", str(out)]) == 0
    rows = [r.split(",") for r in out.read_text().splitlines()]
    assert rows[0] == ["file", "class", "p_c0", "p_c1"] and len(rows) == 21
    # the same probabilities as the run's model on the files, preprocessed as in training
    import keras
    from PIL import Image

    from zoo import load_network
    from zoo.config import read_config
    from zoo.run import load_for

    _, loaded = load_for(read_config(run))
    files = [Path(r[0]) for r in rows[1:]]
    x = np.stack([np.asarray(Image.open(f).convert("L"), "float32")[..., None] for f in files])
    logits = load_network(run / "model.keras")(loaded.preprocess(x))
    expected = keras.ops.convert_to_numpy(keras.ops.softmax(logits))
    got = np.array([[float(v) for v in r[2:]] for r in rows[1:]])
    assert np.allclose(got, expected, atol=1e-5)
    one = tmp_path / "one.csv"
    assert main(["predict", str(run), str(folder / "c1" / "0.png"), "--out", str(one)]) == 0
    assert one.read_text().splitlines()[1].split(",")[1] in ("c0", "c1")


def test_each_warning_is_shown_once_per_command():
    """A warning whose text changes with each batch (Keras' input-structure warning)
    is shown once per command, not once per text."""
    import warnings

    from zoo.cli import each_warning_once

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with each_warning_once():
            for shape in (3, 4, 5):
                warnings.warn(f"The structure doesn't match.\nReceived: ({shape},)", stacklevel=1)
            warnings.warn("another one", stacklevel=1)
            for shape in ("(1, 1)", "(4, 1)"):  # the numbers in the first line aside
                warnings.warn(f"A softmax over a tensor of shape {shape}", stacklevel=1)
    assert [str(w.message).splitlines()[0] for w in caught] == [
        "The structure doesn't match.",
        "another one",
        "A softmax over a tensor of shape (1, 1)",
    ]
