"""Evaluation: figures checked against scikit-learn on fixed predictions, every plot
written, bias and variance verdicts, and evaluate() on real models and splits."""

import json

import numpy as np
import pytest
from sklearn import metrics

from zoo.evaluation import evaluate
from zoo.metrics import (
    bias_variance,
    classification_report,
    expected_calibration_error,
    regression_report,
)
from zoo.runfolder import update_metrics


def _fixed_multiclass(n=300, classes=4, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    logits = rng.normal(size=(n, classes))
    logits[np.arange(n), y] += 1.5  # mostly right, some confidently wrong
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    return y, p


def test_classification_figures_match_sklearn():
    y, p = _fixed_multiclass()
    names = ["a", "b", "c", "d"]
    r = classification_report(y, p, names)
    pred = p.argmax(1)
    assert r["summary"]["accuracy"] == pytest.approx(metrics.accuracy_score(y, pred))
    assert r["summary"]["macro_f1"] == pytest.approx(metrics.f1_score(y, pred, average="macro"))
    assert r["summary"]["weighted_f1"] == pytest.approx(
        metrics.f1_score(y, pred, average="weighted")
    )
    assert r["summary"]["log_loss"] == pytest.approx(metrics.log_loss(y, p))
    ref = metrics.classification_report(y, pred, target_names=names, output_dict=True)
    for name in names:
        assert r["per_class"][name]["precision"] == pytest.approx(ref[name]["precision"])
        assert r["per_class"][name]["recall"] == pytest.approx(ref[name]["recall"])
        assert r["per_class"][name]["f1"] == pytest.approx(ref[name]["f1-score"])
        assert r["per_class"][name]["support"] == ref[name]["support"]
    assert r["averages"]["macro"]["recall"] == pytest.approx(ref["macro avg"]["recall"])
    assert r["confusion_matrix"] == metrics.confusion_matrix(y, pred).tolist()
    assert "roc_auc" not in r["summary"]  # only for two classes


def test_binary_curves_thresholds_and_ece():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 400)
    score = np.clip(0.5 * y + rng.normal(0.25, 0.25, 400), 0, 1)
    r = classification_report(y, score[:, None], ["neg", "pos"])
    assert r["summary"]["roc_auc"] == pytest.approx(metrics.roc_auc_score(y, score))
    assert r["summary"]["average_precision"] == pytest.approx(
        metrics.average_precision_score(y, score)
    )
    at = {row["threshold"]: row for row in r["thresholds"]}
    assert at[0.3]["precision"] == pytest.approx(metrics.precision_score(y, score >= 0.3))
    assert at[0.7]["recall"] == pytest.approx(metrics.recall_score(y, score >= 0.7))
    assert at[0.5]["accuracy"] == pytest.approx(metrics.accuracy_score(y, score >= 0.5))
    # ECE against a direct computation: 10 bins, |accuracy - confidence| weighted.
    p2 = np.stack([1 - score, score], 1)
    conf, correct = p2.max(1), p2.argmax(1) == y
    ece, bins = expected_calibration_error(y, p2, bins=10)
    direct = 0.0
    for lo in np.arange(10) / 10:
        m = (conf > lo) & (conf <= lo + 0.1) if lo else (conf <= 0.1)
        if m.any():
            direct += m.mean() * abs(correct[m].mean() - conf[m].mean())
    assert ece == pytest.approx(direct, abs=1e-9)
    assert sum(b["count"] for b in bins) == len(y)
    # A perfectly calibrated, always-right, fully confident model has ECE 0.
    assert expected_calibration_error(y, np.eye(2)[y])[0] == pytest.approx(0.0)


def test_regression_figures_match_sklearn():
    rng = np.random.default_rng(2)
    y = rng.normal(100, 20, 200)
    pred = y + rng.normal(0, 5, 200)
    pred[17] += 80  # the largest error
    r = regression_report(y, pred, largest=3)
    assert r["summary"]["mae"] == pytest.approx(metrics.mean_absolute_error(y, pred))
    assert r["summary"]["rmse"] == pytest.approx(np.sqrt(metrics.mean_squared_error(y, pred)))
    assert r["summary"]["r2"] == pytest.approx(metrics.r2_score(y, pred))
    assert r["largest_errors"][0]["row"] == 17
    assert len(r["largest_errors"]) == 3
    with pytest.raises(ValueError, match="predictions"):
        regression_report(y, pred[:-1])


def test_bias_variance_verdicts():
    over = bias_variance({"train": 0.001, "val": 0.08, "test": 0.09}, "classification")
    assert over["verdict"] == "overfitting" and "augmentation" in over["diagnosis"]
    assert over["variance"] == pytest.approx(0.089) and over["held_out"] == "test"  # the worse
    under = bias_variance({"train": 0.15, "val": 0.17}, "classification", baseline=0.9)
    assert under["verdict"] == "underfitting" and "bigger model" in under["diagnosis"]
    assert "set the epochs" not in under["diagnosis"]
    budget = bias_variance(
        {"train": 0.15, "val": 0.17}, "classification", epochs_set_by="the time budget"
    )  # the advice to train longer names what to change
    assert budget["diagnosis"].endswith(
        "Here the time budget set the epochs: raise it to train longer."
    )
    good = bias_variance({"train": 0.0, "val": 0.005}, "classification")
    assert good["verdict"] == "fits well"
    stuck = bias_variance({"train": 0.88, "val": 0.9}, "classification", baseline=0.9)
    assert stuck["verdict"] == "not learning"
    # No validation split: the test error is the held-out error.
    assert bias_variance({"train": 0.3, "test": 0.6}, "regression")["held_out"] == "test"
    with pytest.raises(ValueError, match="validation or test"):
        bias_variance({"train": 0.1}, "classification")


def test_update_metrics_merges_and_keeps_the_rest(tmp_path):
    path = tmp_path / "metrics.json"
    path.write_text(json.dumps({"test": {"loss": 0.3}, "checks": {"a": 1}}))
    update_metrics(path, {"test": {"accuracy": np.float32(0.5)}, "new": [1, 2]})
    got = json.loads(path.read_text())
    assert got == {"test": {"loss": 0.3, "accuracy": 0.5}, "checks": {"a": 1}, "new": [1, 2]}
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]  # no temporary left


def _trained(data, epochs=4, **kw):
    import keras

    from zoo.config import TrainConfig
    from zoo.run import load_for
    from zoo.train import build_fn

    config, loaded = load_for(TrainConfig(data=data, epochs=epochs, **kw))
    keras.utils.set_random_seed(0)
    model = build_fn(config, loaded)()
    model.fit(loaded.train, epochs=epochs, verbose=0)
    return model, loaded


def test_evaluate_images_writes_every_plot_and_metrics(tmp_path):
    model, loaded = _trained("digits", epochs=1, model="mlp")
    ev = evaluate(model, loaded, run_dir=tmp_path)
    for name in ("confusion_matrix", "reliability", "top_losses"):
        assert ev.plots[name].exists() and ev.plots[name].stat().st_size > 1000, name
    assert "roc_pr" not in ev.plots  # ten classes
    x, y = loaded.arrays("test")
    pred = model.predict(x, verbose=0).argmax(1)
    assert ev.test["accuracy"] == pytest.approx(float(np.mean(pred == y)))
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["test"]["accuracy"] == pytest.approx(ev.test["accuracy"])
    assert saved["bias_variance"]["verdict"] in ("underfitting", "overfitting", "fits well")
    assert len(saved["evaluation"]["per_class"]) == 10
    text = (tmp_path / "evaluation.md").read_text()
    assert "| 9 |" in text and "Bias and variance" in text and "top_losses.png" in text


def test_evaluate_binary_tabular_and_regression(tmp_path):
    model, loaded = _trained("breast_cancer", epochs=3)
    ev = evaluate(model, loaded, run_dir=tmp_path / "bc")
    assert {"confusion_matrix", "reliability", "roc_pr"} <= set(ev.plots)
    assert "top_losses" not in ev.plots  # tabular rows are listed, not drawn
    assert 0.5 < ev.test["roc_auc"] <= 1.0
    assert (tmp_path / "bc" / "roc_pr.png").exists()

    model, loaded = _trained("diabetes", epochs=2)
    ev = evaluate(model, loaded, run_dir=tmp_path / "reg")
    assert (tmp_path / "reg" / "residuals.png").exists()
    x, y = loaded.arrays("test")
    pred = model.predict(x, verbose=0)[:, 0]
    assert ev.test["r2"] == pytest.approx(metrics.r2_score(y, pred), abs=1e-6)
    assert len(ev.details["largest_errors"]) == 10
    # Two epochs from a zero bias: predictions nowhere near the target, which is what
    # the diagnosis must say.
    assert ev.bias_variance["verdict"] == "not learning"


def test_evaluate_arrays_need_metadata(tmp_path):
    model, loaded = _trained("iris", epochs=1)
    x, y = loaded.arrays("test")
    with pytest.raises(ValueError, match="metadata"):
        evaluate(model, (x, y))
    ev = evaluate(model, (x, y), {"task": "classification", "class_names": ["a", "b", "c"]})
    assert set(ev.details["per_class"]) == {"a", "b", "c"} and ev.bias_variance is None
    assert not any(tmp_path.iterdir())  # nothing written without a run folder


def test_cli_evaluate_other_data_and_compare(tmp_path, capsys):
    import csv

    from sklearn.datasets import load_iris

    from zoo.cli import main

    run = tmp_path / "run"
    assert main(["train", "iris", "--epochs", "3", "--run-dir", str(run)]) == 0
    saved = json.loads((run / "metrics.json").read_text())
    assert {"accuracy", "macro_f1", "ece", "loss"} <= set(saved["test"])
    assert saved["bias_variance"]["verdict"] and (run / "confusion_matrix.png").exists()
    assert saved["export"]["max_abs_diff"]  # the export record is kept alongside

    capsys.readouterr()
    assert main(["evaluate", str(run)]) == 0
    assert "weakest class" in capsys.readouterr().out

    # Other data with the same classes, labels as names, one class absent.
    iris = load_iris()
    table = tmp_path / "more.csv"
    with table.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow([*iris.feature_names, "label"])
        for i in range(50, 150, 2):  # versicolor and virginica only
            w.writerow([*iris.data[i], iris.target_names[iris.target[i]]])
    assert main(["evaluate", str(run), str(table)]) == 0
    other = json.loads((run / "eval-more" / "metrics.json").read_text())
    assert other["test"]["examples"] == 50
    assert other["evaluation"]["per_class"]["setosa"]["support"] == 0
    assert other["evaluation"]["per_class"]["virginica"]["support"] == 25

    assert main(["compare", str(run), str(run)]) == 0
    out = capsys.readouterr().out
    assert out.count("| run | iris | mlp |") == 2 and "macro_f1" in out
    assert main(["evaluate", str(tmp_path)]) == 2
    assert "config.json" in capsys.readouterr().err


def test_the_linear_baseline_is_scored_on_the_test_split_and_said_plainly():
    from zoo.data import load
    from zoo.evaluation import against_baseline, linear_baseline

    loaded = load("breast_cancer", seed=1)
    linear = linear_baseline(loaded)
    assert linear["model"] == "logistic regression" and linear["metric"] == "accuracy"
    assert 0.9 < linear["score"] <= 1.0
    regression = linear_baseline(load("diabetes", seed=1))
    assert regression["model"] == "linear regression" and 0.2 < regression["score"] < 0.8
    assert linear_baseline(load("digits", seed=1)) is None  # images: no linear baseline
    behind = against_baseline(linear, linear["score"] - 0.01, "mlp", 455)
    assert "logistic regression does better" in behind and "ship the linear model" in behind
    assert "matches or beats" in against_baseline(linear, linear["score"], "mlp", 455)
    assert "fit by gradient descent" in against_baseline(linear, 0.5, "linear", 455)
