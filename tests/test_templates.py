"""Every template runs end to end, as a person would run it, with a tiny budget."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"


@pytest.mark.parametrize(
    "name,metric",
    [
        ("image_classification", "baseline_accuracy"),
        ("tabular_classification", "baseline_accuracy"),
        ("tabular_regression", "baseline_mse"),
    ],
)
def test_template_runs_and_writes_its_run_folder(name, metric, tmp_path):
    run = tmp_path / "run"
    done = subprocess.run(
        [sys.executable, str(TEMPLATES / f"{name}.py"), "--epochs", "2", "--run-dir", str(run)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "[pass] loss_at_init" in done.stdout
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["epochs"] == 2 and metric in metrics
    assert metrics["bias_variance"]["diagnosis"] and metrics["test"]["examples"] > 0
    for path in (
        "config.json",
        "history.csv",
        "curves.png",
        "batch.png",
        "best.keras",
        "prediction_dynamics.png",
        "evaluation.md",
        "data/report.md",
        "export/saved_model.pb",
    ):
        assert (run / path).exists(), path
