"""Every template runs end to end, as a person would run it, with a tiny budget."""

import importlib.util
import json
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest

from zoo.run import schema_problems

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = ROOT / "templates"


def template_config(name: str):
    """The ``CONFIG`` block of ``templates/<name>.py``, read without running it."""
    spec = importlib.util.spec_from_file_location(f"_template_{name}", TEMPLATES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.CONFIG


@pytest.mark.parametrize(
    "name,metric",
    [
        ("image_classification", "baseline_accuracy"),
        # half a minute; the regression template runs the same stages by default
        pytest.param("tabular_classification", "baseline_accuracy", marks=pytest.mark.slow),
        ("tabular_regression", "baseline_mse"),
    ],
)
def test_template_runs_and_writes_its_run_folder(name, metric, tmp_path):
    run = tmp_path / "run"
    tabular = name.startswith("tabular")
    # the tabular templates ship an average of CROSS_FIT models: two keep the test short
    fewer = ["--cross-fit", "2"] if tabular else []
    done = subprocess.run(
        [sys.executable, str(TEMPLATES / f"{name}.py"), "--epochs", "2", "--run-dir", str(run),
         *fewer],
        capture_output=True,
        text=True,
        timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "[pass] loss_at_init" in done.stdout
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["epochs_run"] == 2 and metric in metrics
    assert not schema_problems(metrics) and metrics["export"]["max_abs_diff"]
    # every field of the CONFIG block reaches the run, not only those with a flag
    written = json.loads((run / "config.json").read_text())
    config = json.loads(json.dumps(asdict(template_config(name))))  # tuples as lists
    assert {k: v for k, v in written.items() if k != "epochs"} == {
        k: v for k, v in config.items() if k != "epochs"
    }
    assert metrics["bias_variance"]["diagnosis"] and metrics["test"]["examples"] > 0
    if tabular:  # the linear baseline on the same split, said plainly
        linear = metrics["linear_baseline"]
        assert linear["model"] in ("logistic regression", "linear regression")
        assert f"{linear['model']} on the same split {linear['score']:.4f}" in done.stdout
        # the model shipped and exported is the average of two trained on every row
        shipped = metrics["shipped"]
        assert shipped["cross_fit"] == 2 and shipped["model"].endswith("_x2")
        assert (run / "members" / "member-1" / "best.keras").exists()
        assert (run / "members" / "ensemble.keras").exists()
        assert "2 models on every training and validation row, averaged" in done.stdout
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


@pytest.mark.slow  # a minute: the members, the ensemble, the teacher and two students
def test_ensemble_then_distillation_templates(tmp_path):
    """The ensemble template (two members) writes one exported model; the distillation
    template takes it as its teacher and ships the student alone."""
    ens, dist = tmp_path / "ensemble", tmp_path / "distill"
    done = subprocess.run(
        [sys.executable, str(TEMPLATES / "ensemble.py"), "--members", "2", "--epochs", "2",
         "--run-dir", str(ens)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "over the average member" in done.stdout
    metrics = json.loads((ens / "metrics.json").read_text())
    assert len(metrics["members"]) == 2 and "ensemble_gain" in metrics
    assert not schema_problems(metrics) and metrics["epochs_run"] == 4  # 2 members, 2 each
    for path in ("members.md", "members.png", "model.keras", "export/saved_model.pb",
                 "confusion_matrix.png"):  # fmt: skip
        assert (ens / path).exists(), path
    done = subprocess.run(
        [sys.executable, str(TEMPLATES / "distillation.py"), "--teacher",
         str(ens / "model.keras"), "--epochs", "2", "--run-dir", str(dist)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    metrics = json.loads((dist / "metrics.json").read_text())
    assert [m["model"] for m in metrics["models"]] == [
        "teacher", "student, scratch", "student, distilled",
    ]  # fmt: skip
    assert not schema_problems(metrics) and metrics["epochs_run"] == 2
    teacher, student = (m["params"] for m in metrics["models"][::2])
    assert student < teacher / 4  # the student is the small one, and it is what ships
    assert (dist / "export" / "saved_model.pb").exists() and (dist / "students.png").exists()


@pytest.mark.slow  # 25-35 s, as the ensemble and distillation templates beside it
def test_fine_tuning_template(tmp_path):
    run = tmp_path / "run"
    done = subprocess.run(
        [sys.executable, str(TEMPLATES / "fine_tuning.py"), "--epochs", "2", "--per-class",
         "5", "--run-dir", str(run)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "frozen weights and BN statistics changed: 0 of" in done.stdout
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["frozen_changed"] == [] and metrics["unfrozen"] == ["stage3"]
    assert not schema_problems(metrics) and metrics["num_examples"]["train"] == 5 * 5
    assert set(metrics["scores"]) == {"from scratch", "head only", "fine-tuned"}
    for path in ("pretrained.keras", "finetune.png", "export/saved_model.pb"):
        assert (run / path).exists(), path


@pytest.mark.slow  # about 30 s: a ResNet-18 fine-tuned on 32 small images
def test_fine_tuning_template_takes_a_published_weight_file(tmp_path):
    """`--weights FILE --model resnet18 --data FOLDER`: the file is the checkpoint
    (a torchvision-layout state dict here, randomized), every class a target."""
    torch = pytest.importorskip("torch")
    from PIL import Image

    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import torch_resnet as tv
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    weights = tmp_path / "resnet18.pth"
    torch.save(tv.randomized(tv.TvResNet(tv.TvBasic, (2, 2, 2, 2))).state_dict(), weights)
    rng = np.random.default_rng(0)
    for c in range(2):
        (tmp_path / "img" / f"c{c}").mkdir(parents=True)
        for i in range(16):
            pixels = rng.integers(0, 60, (32, 32, 3)) + 60 + 120 * c
            Image.fromarray(pixels.astype("uint8")).save(tmp_path / "img" / f"c{c}" / f"{i}.png")
    run = tmp_path / "run"
    done = subprocess.run(
        [sys.executable, str(TEMPLATES / "fine_tuning.py"), "--data", str(tmp_path / "img"),
         "--model", "resnet18", "--weights", str(weights), "--epochs", "2", "--per-class", "8",
         "--run-dir", str(run)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "weights from resnet18.pth (torchvision): 40 layers loaded" in done.stdout
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["num_examples"]["train"] == 2 * 8 and not schema_problems(metrics)
    assert json.loads((run / "config.json").read_text())["weights"] == str(weights)
