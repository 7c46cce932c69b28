"""Fix trials beyond one fix: a program with two bugs is cleared by the fixes together
(a learning rate included, a schedule's too), a learning rate that moved the right way
is tried ten times further, regression targets far from unit scale are standardized,
and a check run is the same at every run of an unseeded script (``--seed``)."""

import json
import textwrap

import keras
import numpy as np

from zoo.checks.base import CheckResult
from zoo.checks.diagnosis import diagnose, lines
from zoo.checks.fixes import _further, _scaled_rate, apply_to_data, apply_to_model
from zoo.checks.training import slow_start
from zoo.checks.trials import _harm_elsewhere
from zoo.cli import main
from zoo.cli_parser import build_parser


def run_check(tmp_path, capsys, text: str, *args, name="train.py"):
    script = tmp_path / name
    script.write_text(textwrap.dedent(text))
    out = tmp_path / f"out-{len(list(tmp_path.iterdir()))}"
    code = main(["check", "--out", str(out), *args, str(script)])
    printed = capsys.readouterr().out
    return code, printed, json.loads((out / "check.json").read_text()), script


TWO_BUGS = """
    import keras
    from sklearn.datasets import load_breast_cancer
    from sklearn.preprocessing import StandardScaler

    x, y = load_breast_cancer(return_X_y=True)
    x = StandardScaler().fit_transform(x)
    model = keras.Sequential([
        keras.Input((30,)),
        keras.layers.Dense(16, activation="relu"),
        keras.layers.Dense(1, activation="{activation}"),
    ])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate={rate}), loss="{loss}")
    model.fit(x, y, epochs=3, batch_size=32, validation_split=0.2)
"""


def test_two_bugs_are_cleared_by_their_fixes_together_and_the_fixed_script_is_clean(
    tmp_path, capsys
):
    bugs = TWO_BUGS.format(activation="softmax", rate="0.00002", loss="binary_crossentropy")
    code, out, saved, script = run_check(tmp_path, capsys, bugs)
    assert code == 1
    roots = saved["diagnosis"]
    first = roots[0]
    assert first["check"] == "output_and_loss" and first["status"] == "fail"
    # the output fix alone leaves a training failing: the rate is the second bug
    assert first["trial"]["fixed"] is False and first["trial"]["still_failing"]
    together = next(r["together"] for r in roots if r.get("together"))
    assert together["fixed"], together
    assert "output_and_loss" in together["roots"] and len(together["roots"]) == 2
    assert together["fix"]["activation"] == "sigmoid"
    assert together["fix"].get("learning_rate_times", 1) > 1  # raised, not lowered
    completed = next(r for r in roots if r["check"] == together["roots"][-1])
    lines_ = script.read_text().splitlines()
    assert "SGD(" in lines_[completed["location"]["line"] - 1]  # the optimizer's line
    assert "the fixes of" in out and "together" in out
    clean = TWO_BUGS.format(activation="sigmoid", rate="0.05", loss="binary_crossentropy")
    code, out, saved, _ = run_check(tmp_path, capsys, clean, "--no-fix-trial", name="fixed.py")
    assert code == 0, out
    assert not any(r["status"] == "fail" for r in saved["results"])


def test_a_schedule_and_a_constant_rate_are_scaled(tmp_path):
    schedule = keras.optimizers.schedules.InverseTimeDecay(0.001, decay_steps=1, decay_rate=1e-6)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(schedule, momentum=0.9), loss="mse")
    apply_to_model(model, {"learning_rate_times": 100.0}, [])
    assert model.optimizer.learning_rate.numpy() == np.float32(0.1)
    assert model.optimizer.get_config()["momentum"] == 0.9
    assert _scaled_rate(0.5, 0.1) == 0.05
    piecewise = keras.optimizers.schedules.PiecewiseConstantDecay([10], [0.1, 0.01])
    scaled = _scaled_rate(keras.saving.serialize_keras_object(piecewise), 10)
    assert scaled["config"]["values"] == [1.0, 0.1]
    try:
        _scaled_rate({"class_name": "MySchedule", "config": {}}, 10)
    except ValueError as err:
        assert "MySchedule" in str(err)
    else:
        raise AssertionError("a schedule without known rates must say so")
    # a rate lowered (or raised) once is taken ten times further the same way
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    assert _further({"learning_rate": 0.01}, model) == {"learning_rate": 0.001}
    assert _further({"learning_rate": 1.0}, model) == {"learning_rate": 10.0}
    assert _further({"learning_rate": 0.01, "loss": "mse"}, model) == {}
    # ReLUs that did not clear it: with the He initialization made for them
    assert _further({"hidden_activation": "relu"}, model) == {"he_init": True}
    assert _further({"hidden_activation": "relu", "he_init": True}, model) == {}


def test_one_dimensional_inputs_and_targets_are_standardized():
    x = np.arange(-100, 100, 0.5)
    y = x**4
    train, val = (x[:300], y[:300]), (x[300:], y[300:])
    (xs, ys), (xv, yv) = apply_to_data(train, val, {"inputs": "standardize",
                                                    "targets": "standardize"})  # fmt: skip
    assert xs.shape == (300,) and xv.shape == (100,)
    assert abs(xs.mean()) < 1e-5 and abs(xs.std() - 1) < 1e-4
    assert abs(ys.mean()) < 1e-5 and abs(ys.std() - 1) < 1e-4
    # the validation rows on the training rows' scale, not their own
    expected = (y[300:] - y[:300].mean()) / y[:300].std()
    assert np.allclose(yv, expected, rtol=1e-4) and abs(yv.mean()) > 0.1


REGRESSION = """
    import numpy as np
    import keras
    {scale}
    x = np.linspace(-1, 1, 400).reshape(-1, 1).astype("float32")
    y = 1000.0 * x**2 + 3000.0
    {scale_y}
    model = keras.Sequential([
        keras.Input((1,)),
        keras.layers.Dense(32, activation="relu"),
        keras.layers.Dense(1),
    ])
    model.compile(optimizer="adam", loss="mse")
    model.fit(x, y, epochs=50, batch_size=32, validation_split=0.2)
"""


def test_regression_targets_far_from_unit_scale_are_named_where_they_were_made(
    tmp_path, capsys
):
    text = REGRESSION.format(scale="", scale_y="")
    code, out, saved, script = run_check(tmp_path, capsys, text)
    result = next(r for r in saved["results"] if r["name"] == "output_and_loss")
    assert result["status"] in ("warn", "fail") and "standardize the targets" in result["message"]
    root = next(r for r in saved["diagnosis"] if r["check"] == "output_and_loss")
    assert root["fix"] == {"targets": "standardize"}
    assert "y = 1000.0" in root["location"]["code"]
    # a FAIL only where the trial measured the harm
    assert (result["status"] == "fail") == bool(root["trial"].get("cleared"))
    clean = REGRESSION.format(scale="from sklearn.preprocessing import StandardScaler",
                              scale_y="y = StandardScaler().fit_transform(y)")  # fmt: skip
    code, out, saved, _ = run_check(tmp_path, capsys, clean, "--no-fix-trial", name="scaled.py")
    result = next(r for r in saved["results"] if r["name"] == "output_and_loss")
    assert result["status"] == "pass", result["message"]


def _result(name, status, message="", **details):
    return CheckResult(name, status != "fail", None, None, message, status=status,
                       details=details)  # fmt: skip


def test_a_loss_that_barely_moved_is_a_slow_start_when_the_baseline_learned():
    moved = "training loss moved +0.5% in 100 steps (1554 -> 1561)"
    loss = _result("loss_decreasing", "fail", moved, losses=[1554.0, 1561.0], fix={})
    base = _result("input_independent_baseline", "pass", "validation loss 46 against 854")
    slow_start([loss, base], total_steps=2000, steps=300)
    assert loss.status == "warn" and "slow start" in loss.message
    # a program that stops before the baseline's steps would get it going: still a failure
    for total in (None, 600):
        loss = _result("loss_decreasing", "fail", moved, losses=[1554.0, 1561.0], fix={})
        slow_start([loss, base], total_steps=total, steps=300)
        assert loss.status == "fail"
    # a baseline that did not learn, or a loss that diverged: still a failure
    for other, losses in ((_result("input_independent_baseline", "fail"), [1.0, 1.0]),
                          (base, [1.0, float("nan")])):  # fmt: skip
        loss = _result("loss_decreasing", "fail", moved, losses=losses, fix={})
        slow_start([loss, other], total_steps=2000, steps=300)
        assert loss.status == "fail"


def test_an_input_scale_failing_on_trainings_another_fix_clears_is_a_warning():
    scale = _result("input_scale", "fail", "feature 0 has spread 57",
                    trial={"checks": {"input_scale": {"before": "fail", "after": "pass"}}})
    harmed = [_result(n, "fail") for n in ("overfit_one_batch", "loss_decreasing")]
    targets = _result("output_and_loss", "fail", trial={
        "fixed": True, "cleared": ["overfit_one_batch", "loss_decreasing"]})
    _harm_elsewhere([scale, targets, *harmed])
    assert scale.status == "warn" and "output_and_loss's fix alone" in scale.message
    assert scale.details["trial"]["checks"]["input_scale"]["before"] == "warn"
    # harm measured on the scale itself (the standardized training) stays a failure
    scale = _result("input_scale", "fail", standardized={"validation_loss": 1.0})
    _harm_elsewhere([scale, targets, *harmed])
    assert scale.status == "fail"


def test_the_fixes_together_are_told_under_the_last_root_they_join():
    together = {"roots": ["output_and_loss", "overfit_one_batch"], "fixed": True,
                "change": "a sigmoid output activation, the learning rate(s) times 10",
                "checks": {"overfit_one_batch": {"before": "fail", "after": "pass"}},
                "still_failing": [], "cleared": ["overfit_one_batch"], "seconds": 1.0}  # fmt: skip
    out = _result("output_and_loss", "fail", "a softmax over a single unit",
                  trial={"still_failing": ["overfit_one_batch"]},
                  together=together, fix={"activation": "sigmoid"})
    fit = _result("overfit_one_batch", "fail", "cannot memorize one batch", together=together)
    roots = diagnose([out, fit])
    # the first fix alone left it failing: a root of its own, the joint trial told once,
    # under it
    assert roots == [out, fit] and fit.caused_by is None
    text = "\n".join(lines(roots, [out, fit]))
    assert text.count("the fixes of output_and_loss and overfit_one_batch together") == 1
    assert text.index("2. overfit_one_batch") < text.index("together: with")
    assert "\n     \n" not in text  # no empty line for a trial that has nothing to say


def test_an_unseeded_script_gets_the_same_verdicts_at_every_check(tmp_path, capsys):
    text = """
        import numpy as np
        import keras
        x = np.random.rand(200, 4).astype("float32")
        y = (x.sum(axis=1) > 2).astype("float32")
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"),
                                  keras.layers.Dense(1, activation="sigmoid")])
        model.compile(optimizer="adam", loss="binary_crossentropy")
        model.fit(x, y, epochs=2)
    """
    figures = []
    for _ in range(2):
        keras.utils.set_random_seed(np.random.SeedSequence().entropy % 2**31)  # as a new run
        _, _, saved, _ = run_check(tmp_path, capsys, text, "--no-fix-trial", "--budget", "10")
        figures.append({r["name"]: r["measured"] for r in saved["results"]})
        assert saved["settings"]["seed"] == 1
    assert figures[0] == figures[1]
    assert build_parser().parse_args(["check", "--seed", "none", "t.py"]).seed is None
    assert build_parser().parse_args(["check", "--seed", "7", "t.py"]).seed == 7


def test_zoo_checks_options_after_the_script_name_are_pointed_out(tmp_path, capsys):
    script = tmp_path / "no_fit.py"
    script.write_text("import sys\nprint('args', sys.argv[1:])\n")
    code = main(["check", "--out", str(tmp_path / "o"), str(script), "--budget", "5"])
    printed = capsys.readouterr()
    assert "args ['--budget', '5']" in printed.out  # the script got them, as python gives
    assert "--budget after the script name goes to the script" in printed.err
    assert code == 2
