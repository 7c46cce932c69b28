"""Tuning: spaces and their overrides, a hypermodel per family, a resumable random
search with its table, plots and the retrained, exported best; a search killed
mid-trial keeps its finished trials."""

import csv
import json
import os
import signal
import subprocess
import sys
import time

import keras_tuner
import numpy as np
import pytest

from tuning.hypermodels import ZooHyperModel
from tuning.search import check_objective, random_search
from tuning.spaces import SPACES, parse_space, sample
from zoo.run import schema_problems


def test_space_overrides_and_errors():
    base = SPACES["mlp"]
    space = parse_space(
        ["learning_rate=1e-4:1e-3", "optimizer=adam,sgd", "dropout=0.2", "depth=1:2"], base
    )
    assert space["learning_rate"] == ("log", 1e-4, 1e-3)  # stays log-scaled
    assert space["optimizer"] == ("choice", ["adam", "sgd"])
    assert space["dropout"] == ("fixed", 0.2)
    assert space["depth"] == ("int", 1, 2)
    assert space["l2"] == base["l2"]  # untouched entries stay
    for bad, match in [
        ("lr=1e-3", "'lr' is not in this space"),
        ("learning_rate", "NAME=LOW:HIGH"),
        ("learning_rate=1e-2:1e-4", "low < high"),
        ("learning_rate=0:1e-2", "log-scaled"),
    ]:
        with pytest.raises(ValueError, match=match):
            parse_space([bad], base)
    hp = keras_tuner.HyperParameters()
    values = sample(hp, space)
    assert values["dropout"] == 0.2 and 1e-4 <= values["learning_rate"] <= 1e-3


@pytest.mark.parametrize(
    "family, shape",
    [("mlp", (4,)), ("convnet", (8, 8, 1)), ("cifar_resnet", (8, 8, 3)), ("vgg", (32, 32, 3))],
)
def test_hypermodel_per_family_builds_what_it_sampled(family, shape):
    space = dict(SPACES[family])
    space["dropout"] = ("fixed", 0.25)
    space["l2"] = ("fixed", 1e-3)
    if family == "vgg":
        space["width_multiplier"] = ("fixed", 0.125)
        space["depth"] = ("fixed", 11)
        space["hidden"] = ("fixed", 256)
    if family == "cifar_resnet":
        space["depth"] = ("fixed", 20)
        space["width_multiplier"] = ("fixed", 0.5)
    y = np.array([0, 0, 0, 1, 2])
    hm = ZooHyperModel(family, input_shape=shape, num_classes=3, y_train=y, space=space)
    hp = keras_tuner.HyperParameters()
    model = hm.build(hp)
    assert model.output_shape == (None, 3)
    assert any(la.__class__.__name__ == "Dropout" for la in model._flatten_layers())
    x = np.zeros((2, *shape), "float32")
    model(x)
    assert len(model.losses) > 0  # the L1/L2 penalty reached the kernels
    bias = model.layers[-1].bias.numpy() if hasattr(model.layers[-1], "bias") else None
    if bias is not None:  # output bias from the class prior (3:1:1)
        np.testing.assert_allclose(np.exp(bias) / np.exp(bias).sum(), [0.6, 0.2, 0.2], atol=1e-5)
    assert {"learning_rate", "optimizer", "batch_size"} <= set(hp.values)
    metric_names = [m.name for m in model.metrics] + [
        getattr(m, "name", "") for m in model._compile_metrics._user_metrics
    ]
    assert "data_loss" in metric_names


def test_objective_must_match_a_logged_metric():
    assert check_objective("val_accuracy", "classification") == ("val_accuracy", "max")
    assert check_objective("val_data_loss", "regression") == ("val_data_loss", "min")
    with pytest.raises(ValueError, match="val_acc.*choose from"):
        check_objective("val_acc", "classification")
    with pytest.raises(ValueError, match="val_mae"):
        check_objective("val_accuracy", "regression")


def test_search_table_plots_resume_and_best_export(tmp_path):
    folder = tmp_path / "search"
    lines = []
    small = ["depth=1", "width=16,32", "batch_size=16"]
    first = random_search(
        "iris", trials=2, epochs=3, directory=folder, space=small, retrain=False, say=lines.append
    )
    assert first.trials_run_now == 2 and not (folder / "best").exists()
    assert lines[0].startswith("trial 1/2 [0]: learning_rate=") and "best so far" in lines[0]

    lines.clear()
    second = random_search(
        "iris", trials=3, epochs=3, directory=folder, space=small, say=lines.append
    )
    assert second.trials_run_now == 1  # the two finished trials were kept
    assert lines[0].startswith("resuming") and "2 finished trial(s) kept, 1 to run" in lines[0]
    with (folder / "results.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [r["trial_id"] for r in rows] == ["0", "1", "2"]
    assert all(r["status"] == "COMPLETED" and float(r["score"]) > 0 for r in rows)
    assert "| trial_id | status | score |" in (folder / "results.md").read_text()
    for name in ("objective.png", "hyperparameters.png", "best/confusion_matrix.png"):
        assert (folder / name).stat().st_size > 1000, name
    best = json.loads((folder / "best" / "metrics.json").read_text())
    assert best["hyperparameters"]["width"] in (16, 32) and best["epochs_run"] >= 1
    assert not schema_problems(best), schema_problems(best)
    assert max(best["export"]["max_abs_diff"].values()) <= 1e-5
    assert 0.0 <= second.test["accuracy"] <= 1.0
    from zoo.runs import evaluate_run

    again, _ = evaluate_run(folder / "best")  # best/ is a run folder like any other
    assert again.test["accuracy"] == pytest.approx(second.test["accuracy"])

    # Resuming with another space would mix two searches: refused, nothing touched.
    with pytest.raises(ValueError, match="different space"):
        random_search("iris", trials=3, epochs=3, directory=folder, space=["depth=2"])
    with pytest.raises(ValueError, match="non-zero"):
        random_search("iris", seed=0, directory=tmp_path / "other")
    assert not (tmp_path / "other").exists()


@pytest.mark.slow  # a search, then the ensemble template in a process of its own
def test_ensemble_template_takes_the_searchs_top_trials(tmp_path):
    folder = tmp_path / "search"
    small = ["depth=1", "width=16,32", "batch_size=16"]
    random_search("iris", trials=3, epochs=3, directory=folder, space=small, retrain=False)
    with (folder / "results.csv").open() as f:
        rows = list(csv.DictReader(f))
    ens = tmp_path / "ensemble"
    template = os.path.join(os.path.dirname(__file__), "..", "templates", "ensemble.py")
    done = subprocess.run(
        [sys.executable, template, "--data", "iris", "--model", "mlp", "--from-search",
         str(folder), "--members", "2", "--run-dir", str(ens)],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    members = json.loads((ens / "metrics.json").read_text())["members"]
    ranked = sorted(rows, key=lambda r: float(r["score"]))  # val_data_loss: lower first
    assert [m["origin"] for m in members] == [f"trial {r['trial_id']}" for r in ranked[:2]]


@pytest.mark.slow  # the kill-a-worker test below covers the re-queueing in the default run
def test_search_killed_mid_trial_resumes_without_losing_trials(tmp_path):
    folder = tmp_path / "killed"
    cmd = [
        sys.executable, "-m", "zoo.cli", "tune", "iris", "--trials", "3", "--epochs", "40",
        "--dir", str(folder), "--space", "batch_size=16", "--space", "depth=1",
        "--space", "width=8", "--space", "learning_rate=1e-4:1.1e-4",  # slow: long trials
    ]  # fmt: skip
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env)
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if line.startswith("trial 1/3"):
            time.sleep(0.5)  # into trial 2
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait(timeout=60)
    assert any(s.startswith("trial 1/3") for s in seen), seen
    cmd[cmd.index("40")] = "5"  # same search, shorter trials from here on
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "1 finished trial(s) kept, 2 to run" in done.stdout
    with (folder / "results.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3 and all(r["status"] == "COMPLETED" for r in rows)


@pytest.mark.slow  # 45-60 s: three worker processes, one killed and restarted
def test_workers_share_the_search_and_a_killed_worker_loses_nothing(tmp_path):
    """`zoo tune --workers 2`: both workers take trials; SIGKILL one mid-trial and its
    trial goes back in the queue, a replacement starts, the search ends (no hang) with
    every trial completed in one table."""
    folder = tmp_path / "workers"
    cmd = [
        sys.executable, "-m", "zoo.cli", "tune", "iris", "--trials", "4", "--epochs", "30",
        "--dir", str(folder), "--workers", "2", "--space", "batch_size=16", "--space",
        "depth=1", "--space", "width=8", "--space", "learning_rate=1e-4:1.1e-4",
    ]  # fmt: skip
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            env=env)  # fmt: skip
    log = folder / "workers" / "worker0.log"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and "asking the chief" not in (
        log.read_text() if log.exists() else ""
    ):
        time.sleep(0.5)
    time.sleep(2)  # into its first trial (each takes ~4 s)
    os.kill(int((folder / "workers" / "worker0.pid").read_text()), signal.SIGKILL)
    out, _ = proc.communicate(timeout=240)
    assert proc.returncode == 0, out[-3000:]
    assert "worker worker0 died (exit code -9) during trial" in out, out
    assert "started worker0-1 in its place" in out
    with (folder / "results.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 4 and all(r["status"] == "COMPLETED" for r in rows), rows
    ran_on = {r["worker"] for r in rows}
    assert "worker1" in ran_on and ran_on <= {"worker0", "worker1", "worker0-1"}
    assert all(float(r["seconds"]) > 0 and float(r["rss_mb"]) > 50 for r in rows)
    assert (folder / "best" / "model.keras").exists()


def test_grid_search_and_distributed_roles(tmp_path, monkeypatch):
    from tuning.search import role_from_environment, worker_threads

    result = random_search(
        "iris", trials=5, epochs=2, directory=tmp_path / "grid", algorithm="grid",
        space={"width": ("choice", [8, 16]), "depth": ("fixed", 1), "learning_rate":
               ("fixed", 1e-3), "optimizer": ("fixed", "adam"), "dropout": ("fixed", 0.0),
               "l1": ("fixed", 1e-6), "l2": ("fixed", 1e-6), "batch_size": ("fixed", 32)},
        retrain=False, say=lambda line: None,
    )  # fmt: skip
    assert sorted(r["width"] for r in result.rows) == [8, 16]  # the grid ran out at 2
    with pytest.raises(ValueError, match="algorithm 'bayes'"):
        random_search("iris", directory=tmp_path / "b", algorithm="bayes", retrain=False)

    assert role_from_environment() == ("single", None)
    monkeypatch.setenv("KERASTUNER_ORACLE_IP", "10.0.0.1")
    with pytest.raises(ValueError, match="KERASTUNER_ORACLE_PORT=None"):
        role_from_environment()
    monkeypatch.setenv("KERASTUNER_ORACLE_PORT", "8000")
    monkeypatch.setenv("KERASTUNER_TUNER_ID", "chief")
    assert role_from_environment() == ("chief", "10.0.0.1:8000")
    monkeypatch.setenv("KERASTUNER_TUNER_ID", "worker3")
    assert role_from_environment() == ("worker", "10.0.0.1:8000")
    with pytest.raises(ValueError, match="only the chief starts workers"):
        random_search("iris", directory=tmp_path / "w", workers=2)

    shares = worker_threads(2)
    assert len(shares) == 2 and all(shares)
    assert len(worker_threads(64)) == 64


@pytest.mark.slow
def test_chief_and_worker_from_keras_tuner_environment(tmp_path):
    """The several-machines recipe of the README, on one machine: a chief and a worker
    started from KERASTUNER_* variables with separate folders."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = str(s.getsockname()[1])
    base = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "KERASTUNER_ORACLE_IP": "127.0.0.1",
            "KERASTUNER_ORACLE_PORT": port}  # fmt: skip
    cmd = [sys.executable, "-m", "zoo.cli", "tune", "iris", "--trials", "3", "--epochs", "3",
           "--space", "depth=1"]  # fmt: skip
    chief = subprocess.Popen(
        cmd + ["--dir", str(tmp_path / "chief")], stdout=subprocess.PIPE, text=True,
        stderr=subprocess.DEVNULL, env={**base, "KERASTUNER_TUNER_ID": "chief"},
    )  # fmt: skip
    worker = subprocess.run(
        cmd + ["--dir", str(tmp_path / "worker")], capture_output=True, text=True,
        env={**base, "KERASTUNER_TUNER_ID": "worker-a"}, timeout=240,
    )  # fmt: skip
    assert worker.returncode == 0, worker.stderr[-2000:]
    assert "worker worker-a: no trials left" in worker.stdout
    out, _ = chief.communicate(timeout=240)
    assert chief.returncode == 0 and "trial 3/3" in out and "best: trial" in out, out
    with (tmp_path / "chief" / "results.csv").open() as f:
        assert [r["status"] for r in csv.DictReader(f)] == ["COMPLETED"] * 3
