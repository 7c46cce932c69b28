import json
import subprocess
import sys
import time

import pytest

from zoo.cli import main


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
    assert "[3/3] exported and verified" in out
    for name in [
        "config.json",
        "history.csv",
        "curves.png",
        "best.keras",
        "model.keras",
        "metrics.json",
        "export/saved_model.pb",
    ]:
        assert (run / name).exists(), name
    metrics = json.loads((run / "metrics.json").read_text())
    assert 0.0 <= metrics["test"]["accuracy"] <= 1.0 and metrics["epochs_run"] == 2


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
def test_recipe_defaults_reach_98_percent_on_digits(tmp_path):
    from zoo.train import TrainConfig, train_and_export

    result = train_and_export(TrainConfig(), run_dir=tmp_path / "run", verbose=0)
    assert result["test"]["accuracy"] >= 0.98
