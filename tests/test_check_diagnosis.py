"""The diagnosis of `zoo check`: root causes first, their consequences under them with no
advice of their own, the line of the user's script that made each cause, and a fix
trial that shows the fix works (and a clean counterpart with no root cause)."""

import json
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest

from zoo.checks.base import CheckResult
from zoo.checks.diagnosis import diagnose, lines
from zoo.cli import main

CORPUS = Path(__file__).resolve().parent / "check_corpus"


def check(script: Path, tmp_path, capsys, *extra, args=()):
    keras.utils.set_random_seed(1)
    out = tmp_path / f"out-{script.stem}-{len(extra)}-{len(args)}"
    code = main(["check", "--out", str(out), *extra, str(script), *args])
    printed = capsys.readouterr()
    return code, printed.out, json.loads((out / "check.json").read_text()), out


def write(tmp_path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def line_of(path: Path, words: str) -> int:
    return next(i for i, t in enumerate(path.read_text().splitlines(), 1) if words in t)


def test_root_cause_first_with_its_line_and_a_fix_trial_that_works(tmp_path, capsys, monkeypatch):
    script = write(tmp_path, "one_unit.py", """
        import keras
        from sklearn.datasets import load_breast_cancer
        from sklearn.preprocessing import StandardScaler

        x, y = load_breast_cancer(return_X_y=True)
        x = StandardScaler().fit_transform(x)
        model = keras.Sequential([
            keras.Input((30,)),
            keras.layers.Dense(16, activation="relu"),
            keras.layers.Dense(1, activation="softmax"),
        ])
        model.compile(optimizer="adam", loss="binary_crossentropy")
        model.fit(x, y, epochs=5, validation_split=0.2)
    """)
    monkeypatch.chdir(tmp_path)  # run by a relative path, as people do
    code, out, saved, folder = check(Path(script.name), tmp_path, capsys)
    assert code == 1
    first = saved["diagnosis"][0]
    assert first["check"] == "output_and_loss" and first["status"] == "fail"
    assert first["location"]["line"] == line_of(script, "Dense(1, activation")
    assert first["location"]["file"] == str(script.resolve())
    assert 'Dense(1, activation="softmax")' in first["location"]["code"]
    assert first["fix"] == {"activation": "sigmoid", "loss": "binary_crossentropy"}
    assert first["trial"]["checks"]["output_and_loss"] == {**first["trial"]["checks"][
        "output_and_loss"], "before": "fail", "after": "pass"}
    assert first["trial"]["fixed"]
    # the console and check.md open the diagnosis with the root cause and its line
    assert "Diagnosis: " in out and "1. output_and_loss (FAIL) at one_unit.py:" in out
    md = (folder / "check.md").read_text()
    assert md.index("## Diagnosis") < md.index("## Checks")
    # every consequence names its cause and carries no advice of its own
    for r in saved["results"]:
        if r["caused_by"]:
            assert r["caused_by"] == "output_and_loss"
            assert f"- **{r['name']}**: because of output_and_loss" in md


def test_dropout_before_the_logits_is_the_root_cause_shown_by_its_trial(tmp_path, capsys):
    script = CORPUS / "bug_dropout_before_logits.py"
    code, out, saved, _ = check(script, tmp_path, capsys)
    assert code == 1
    first = saved["diagnosis"][0]
    assert first["check"] == "regularization" and first["status"] == "fail"
    assert first["location"]["line"] == line_of(script, "layers.Dropout(rate)")
    trial = first["trial"]
    assert trial["fixed"] and "input_independent_baseline" in trial["cleared"]
    baseline = next(r for r in saved["results"] if r["name"] == "input_independent_baseline")
    assert baseline["status"] == "fail" and baseline["caused_by"] == "regularization"
    # the clean counterpart: nothing to diagnose
    code, out, saved, _ = check(script, tmp_path, capsys, args=["--fixed"])
    assert code == 0 and saved["diagnosis"] == []
    assert "no root cause" in out


def test_raw_pixels_point_at_the_line_that_made_the_inputs(tmp_path, capsys):
    script = write(tmp_path, "pixels.py", """
        import sys
        import keras
        from sklearn.datasets import load_digits

        SCALE = "--scale" in sys.argv
        x, y = load_digits(return_X_y=True)
        x = (x * 16).clip(0, 255)
        if SCALE:
            x = x / 255.0
        model = keras.Sequential([
            keras.Input((64,)),
            keras.layers.Dense(128, activation="tanh"),
            keras.layers.Dense(10, activation="softmax"),
        ])
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        model.fit(x, y, epochs=10, batch_size=32, validation_split=0.2)
    """)
    code, out, saved, _ = check(script, tmp_path, capsys, "--no-fix-trial")
    scale = next(r for r in saved["results"] if r["name"] == "input_scale")
    assert scale["status"] in ("warn", "fail")
    # the assignment that ran, not the one under the `if` that did not
    assert scale["location"]["line"] == line_of(script, "x = (x * 16)")
    assert all(d["trial"] is None for d in saved["diagnosis"])


def test_a_subclassed_model_points_at_its_init(tmp_path, capsys):
    script = write(tmp_path, "sub.py", """
        import keras
        from sklearn.datasets import load_breast_cancer
        from sklearn.preprocessing import StandardScaler

        class Net(keras.Model):
            def __init__(self):
                super().__init__()
                self.hidden = keras.layers.Dense(16, activation="relu")
                self.out = keras.layers.Dense(1, activation="softmax")

            def call(self, x):
                return self.out(self.hidden(x))

        x, y = load_breast_cancer(return_X_y=True)
        x = StandardScaler().fit_transform(x)
        model = Net()
        model.compile(optimizer="adam", loss="binary_crossentropy")
        model.fit(x, y, epochs=2, validation_split=0.2)
    """)
    code, out, saved, _ = check(script, tmp_path, capsys)
    first = saved["diagnosis"][0]
    assert code == 1 and first["check"] == "output_and_loss"
    assert first["location"]["line"] == line_of(script, 'self.out = keras.layers.Dense(1')


def _result(name, status, **details):
    return CheckResult(name, status != "fail", None, None, f"{name} says", status=status,
                       details=details)  # fmt: skip


def test_a_warning_explains_failures_and_a_failure_nothing_explains_is_its_own_root():
    scale = _result("input_scale", "warn", fix={"inputs": "standardize"})
    decreasing = _result("loss_decreasing", "fail")
    baseline = _result("input_independent_baseline", "fail")
    repro = _result("reproducibility", "fail")
    roots = diagnose([scale, _result("labels", "pass"), repro, decreasing, baseline])
    assert [r.name for r in roots] == ["reproducibility", "input_scale"]
    assert decreasing.caused_by == baseline.caused_by == "input_scale"
    assert repro.caused_by is None
    # a fix trial that left the baseline failing: the baseline is a cause of its own
    scale.details["trial"] = {"still_failing": ["input_independent_baseline"]}
    roots = diagnose([scale, decreasing, baseline])
    assert baseline.caused_by is None and baseline in roots
    text = "\n".join(lines(roots, [scale, decreasing, baseline]))
    assert "2 root causes" in text
    assert "consequences (no advice of their own): loss_decreasing" in text


def test_a_lone_warning_is_a_root_of_its_own_after_the_failures():
    lone, fails = _result("input_scale", "warn"), _result("reproducibility", "fail")
    roots = diagnose([lone, _result("loss_decreasing", "pass"), fails])
    assert roots == [fails, lone]
    assert diagnose([_result("labels", "pass")]) == []


@pytest.mark.parametrize("status", ["pass", "warn"])
def test_inference_mode_explains_a_baseline_only_when_training_mode_learned(status):
    gap = _result("inference_mode", "warn", root=True)
    learned = {"training": 0.5 if status == "pass" else 2.4, "inference": 2.4}
    baseline = _result("input_independent_baseline", "fail", real=learned,
                       zeros={"training": 2.3, "inference": 2.3})  # fmt: skip
    diagnose([gap, baseline])
    assert (baseline.caused_by == "inference_mode") == (status == "pass")


# ---------------------------------------------------------------- the new detectors

def test_validation_data_on_another_scale_or_made_of_training_rows():
    from zoo.checks.split import validation_data

    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 5))
    y = (x[:, 0] > 0).astype(int)
    assert validation_data((x[:300], y[:300]), (x[300:], y[300:])).status == "pass"
    raw = validation_data((x[:300], y[:300]), (x[300:] * 50 + 200, y[300:]))
    assert raw.status == "warn" and raw.fix == {"validation": "rescale"}
    copied = validation_data((x[:300], y[:300]), (x[:100], y[:100]))
    assert copied.status == "warn" and "100% of the validation rows" in copied.message
    assert validation_data((x, y), None).status == "pass"


def _per_step(mixer, vocab=12, steps=10):
    model = keras.Sequential([keras.Input((steps,), dtype="int32"),
                              keras.layers.Embedding(vocab, 8), mixer,
                              keras.layers.Dense(vocab)])  # fmt: skip
    model.compile(optimizer="adam",
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


@pytest.mark.parametrize("padding,status", [("causal", "pass"), ("same", "fail")])
def test_next_token_model_that_reads_later_steps_fails_naming_the_layer(padding, status):
    from zoo.checks.sequence import sequence_leak

    seq = np.random.default_rng(0).integers(0, 12, (64, 11))
    model = _per_step(keras.layers.Conv1D(8, 3, padding=padding, name="mixer"))
    result = sequence_leak(model, (seq[:, :-1], seq[:, 1:]))
    assert result.status == status, result.message
    chart = np.asarray(result.details["dependence"])
    assert chart.shape == (10, 10) and (np.triu(chart, 1).max() > 0) == (padding == "same")
    if status == "fail":
        assert result.details["layer"] == "mixer" and "padding='causal'" in result.message


def test_a_bidirectional_tagger_reads_both_ways_and_passes():
    from zoo.checks.sequence import sequence_leak

    rng = np.random.default_rng(0)
    x, tags = rng.integers(0, 12, (64, 10)), rng.integers(0, 12, (64, 10))
    model = _per_step(keras.layers.Bidirectional(keras.layers.GRU(4, return_sequences=True)))
    result = sequence_leak(model, (x, tags))
    assert result.status == "pass" and "both directions" in result.message
    same = sequence_leak(model, (x, x))  # targets equal to the inputs: an off-by-one
    assert same.status == "warn" and "shift them by one" in same.message


def _with_frozen_base(name):
    inner = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3),
                              keras.layers.GlobalAveragePooling2D()], name=name)  # fmt: skip
    inner.trainable = False
    inputs = keras.Input((8, 8, 3))
    model = keras.Model(inputs, keras.layers.Dense(3)(inner(inputs)))
    model.compile(optimizer="adam", loss="mse")
    return model


def test_a_frozen_pretrained_base_fed_raw_pixels_names_its_preprocessing():
    from zoo.checks.pretrained import frozen_inputs

    pixels = np.random.default_rng(0).integers(0, 256, (32, 8, 8, 3)).astype("float32")
    y = np.zeros((32, 3))
    model = _with_frozen_base("mobilenetv2_1.00_224")
    raw = frozen_inputs(model, (pixels, y))
    assert raw.status == "warn" and "mobilenet_v2.preprocess_input" in raw.message
    scale, shift = raw.fix["inputs_affine"]
    assert scale == pytest.approx(1 / 127.5, rel=0.05) and shift == pytest.approx(-1, abs=0.05)
    assert frozen_inputs(model, (pixels / 127.5 - 1, y)).status == "pass"
    # a base that rescales 0-255 itself, fed 0..1
    assert frozen_inputs(_with_frozen_base("efficientnetb0"), (pixels / 255, y)).status == "warn"
    assert frozen_inputs(_with_frozen_base("my_own_net"), (pixels, y)).status == "pass"


@pytest.mark.slow
def test_a_real_keras_applications_base_is_recognized():
    from zoo.checks.pretrained import frozen_inputs

    base = keras.applications.MobileNetV2(weights=None, include_top=False,
                                          input_shape=(32, 32, 3), pooling="avg")  # fmt: skip
    base.trainable = False
    inputs = keras.Input((32, 32, 3))
    model = keras.Model(inputs, keras.layers.Dense(2)(base(inputs)))
    model.compile(optimizer="adam", loss="mse")
    pixels = np.random.default_rng(0).integers(0, 256, (16, 32, 32, 3)).astype("float32")
    result = frozen_inputs(model, (pixels, np.zeros((16, 2))))
    assert result.status == "warn" and "mobilenet_v2.preprocess_input" in result.message


@pytest.mark.slow
@pytest.mark.parametrize("name,root", [
    ("bug_sequence_future_leak.py", "sequence_leak"),
    ("bug_validation_not_scaled.py", "validation_data"),
    ("bug_batchnorm_momentum_lag.py", "inference_mode"),
])  # fmt: skip
def test_new_detectors_name_the_root_cause_and_the_fixed_script_is_clean(
    name, root, tmp_path, capsys
):
    script = CORPUS / name
    code, out, saved, folder = check(script, tmp_path, capsys)
    first = saved["diagnosis"][0]
    assert code == 1 and first["check"] == root and first["status"] == "fail", out
    assert first["location"]["file"].endswith(name)
    if first["trial"]:
        assert first["trial"]["fixed"], first["trial"]
    if root == "sequence_leak":
        assert "check_dependence.png" in saved["figures"]
    code, out, saved, _ = check(script, tmp_path, capsys, args=["--fixed"])
    assert code == 0 and not [r for r in saved["results"] if r["status"] == "fail"], out


def test_locations_follow_the_fit_arguments_and_the_compile_keywords(tmp_path):
    from zoo.checks import locate

    script = write(tmp_path, "where.py", """
        import sys
        RAW = "--raw" in sys.argv
        x = load()
        if not RAW:
            x = x / 255.0
        if RAW:
            x = x * 1.0
        y = labels()
        model.compile(
            optimizer="adam",
            loss="mse",
        )
        model.fit(x[:100], y=y, validation_data=(x[100:], y[100:]))
    """)
    fit = line_of(script, "model.fit")
    names = locate._argument_names(str(script), fit)
    assert names == {"x": "x", "y": "y", "validation": "x"}
    # the assignment that ran: RAW is False in the script's globals
    where = locate._assigned(str(script), fit, "x", {"RAW": False})
    assert where.line == line_of(script, "x = x / 255.0")
    where = locate._assigned(str(script), fit, "x", {"RAW": True})
    assert where.line == line_of(script, "x = x * 1.0")
    # an `if` whose test calls something is not evaluated: both branches may have run
    assert locate._taken(ast_expr("check()"), {}) is None
    lines = locate._keyword_lines(str(script), line_of(script, "model.compile("), "compile",
                                  ("optimizer", "loss"))  # fmt: skip
    assert lines == {"optimizer": line_of(script, 'optimizer="adam"'),
                     "loss": line_of(script, 'loss="mse"')}  # fmt: skip


def ast_expr(text):
    import ast

    return ast.parse(text, mode="eval").body


def test_the_layer_that_mixes_examples_is_named():
    from zoo.checks.independence import batch_independence

    x = np.random.default_rng(0).normal(size=(64, 5)).astype("float32")
    mixer = keras.layers.Lambda(lambda t: t - keras.ops.mean(t, axis=0), name="centre")
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(4), mixer,
                              keras.layers.Dense(2)])  # fmt: skip
    model.compile(optimizer="adam", loss="mse")
    result = batch_independence(model, (x, np.zeros((64, 2))))
    assert result.status == "fail" and result.details["layer"] == "centre"


def test_recording_gives_keras_its_methods_back_at_fit(tmp_path):
    import sys

    from zoo.checks.locate import recording

    compile_, init = keras.Model.compile, keras.layers.Layer.__init__
    with recording(tmp_path) as sites:
        assert keras.Model.compile is not compile_
        sites.saw_fit(sys._getframe(), {})
        # the checks run with Keras as it is: a clone of a compiled model is compiled
        assert keras.Model.compile is compile_ and keras.layers.Layer.__init__ is init
        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
        model.compile(optimizer="adam", loss="mse", metrics=["mae"])
        assert keras.models.clone_model(model).compiled
