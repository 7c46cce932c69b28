"""`zoo check SCRIPT`: the recipe's checks on training scripts written as tutorials and
answers write them (tests/check_corpus/): no `fail` on the correct ones, every planted
bug caught, the user's model left as it was, and clear exit codes."""

import json
from pathlib import Path

import keras
import numpy as np
import pytest

import zoo
from zoo.checks import ALL_CHECKS
from zoo.cli import main

CORPUS = Path(__file__).resolve().parent / "check_corpus"
N = len(ALL_CHECKS)
CORRECT = sorted(p.name for p in CORPUS.glob("ok_*.py"))
# in the default run: one script per kind of model and input; every script, over
# three seeds, under -m slow
DEFAULT = [
    "ok_sequential_softmax_string_loss.py",
    "ok_subclassed_model.py",
    "ok_cnn_images_tf_data.py",
    "ok_multi_output.py",
]  # (and ok_generator_input.py, in the --train test below; custom losses:
#      tests/test_recipe_checks.py)
CORRECT_FIRST = [n if n in DEFAULT else pytest.param(n, marks=pytest.mark.slow) for n in CORRECT]


def run_check(name, tmp_path, capsys, *extra, seed=1):
    keras.utils.set_random_seed(seed)
    out = tmp_path / "out"
    code = main(["check", "--out", str(out), *extra, str(CORPUS / name)])
    printed = capsys.readouterr()
    saved = json.loads((out / "check.json").read_text())
    return code, printed, saved


def test_the_corpus_is_as_large_as_promised():
    assert len(CORRECT) >= 20 and len(BUGS) >= 9


@pytest.mark.parametrize("name", CORRECT_FIRST)
def test_correct_scripts_get_no_fail(name, tmp_path, capsys):
    code, printed, saved = run_check(name, tmp_path, capsys)
    failed = [r for r in saved["results"] if r["status"] == "fail"]
    assert code == 0 and not failed, (failed, printed.err[-2000:])
    assert saved["passed"] and len(saved["results"]) == N and saved["fit_calls"] == 1
    could_not = [r["name"] for r in saved["results"] if r["status"] == "error"]
    if name == "ok_multi_output.py":  # the per-output checks say why; the others ran
        assert could_not == ["labels", "output_and_loss", "loss_at_init"], could_not
        assert f"{N - 3} of {N} checks ran" in saved["summary"]
    else:
        assert not could_not, saved["summary"]
    assert "Traceback" not in printed.out + printed.err
    md = (tmp_path / "out" / "check.md").read_text()
    assert "| check | result |" in md and saved["settings"]["optimizer"]
    assert saved["figures"][:2] == ["check_curves.png", "check_layers.png"]
    assert all((tmp_path / "out" / f).stat().st_size > 5000 for f in saved["figures"])


@pytest.mark.slow
@pytest.mark.parametrize("seed", [2, 3])  # seed 1: the test above
@pytest.mark.parametrize("name", CORRECT)
def test_correct_scripts_get_no_fail_over_seeds(name, seed, tmp_path, capsys):
    code, printed, saved = run_check(name, tmp_path, capsys, seed=seed)
    assert code == 0, [r for r in saved["results"] if r["status"] == "fail"]


# each planted bug of tests/test_recipe_checks.py, written as tutorials write code
# (string losses, default initializers, the script's own compile), and the check that
# must catch it; the first two in the default run, all under -m slow
BUGS = [
    ("bug_labels_shuffled.py", "input_independent_baseline", "does not use its input"),
    ("bug_frozen_model.py", "overfit_one_batch", "No weight of the model is trainable"),
    ("bug_softmax_then_from_logits.py", "loss_at_init", "ends in softmax"),
    ("bug_inputs_zeroed.py", "overfit_one_batch", "inputs of the batch are identical"),
    ("bug_batch_statistics_in_model.py", "batch_independence", "mixes examples"),
    ("bug_clipped_loss.py", "loss_at_init", "clipped"),
    ("bug_l2_too_strong.py", "overfit_one_batch", "cannot memorize one batch"),
    ("bug_lr_decays_to_zero.py", "loss_decreasing", "below 1% of its peak"),
    ("bug_unseeded_random_layer.py", "reproducibility", "same seed differ"),
    ("bug_dropout_before_logits.py", "regularization", "drops 99%"),
    ("bug_validation_not_scaled.py", "validation_data", "another"),
    ("bug_sequence_future_leak.py", "sequence_leak", "reads the element it must predict"),
    ("bug_batchnorm_momentum_lag.py", "inference_mode", "moving statistics still hold"),
]


def test_the_bug_detection_corpus_has_thirty_pairs_in_every_category():
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "bug_detection.py"
    spec = importlib.util.spec_from_file_location("bug_detection", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    pairs = bench.scripts()
    assert len(pairs) >= 30 and {c for c, _ in pairs} == set(bench.CATEGORIES)
    for _, script in pairs:  # each runs buggy as written, fixed with --fixed
        assert 'FIXED = "--fixed" in sys.argv' in script.read_text(), script


def test_every_bug_script_is_listed():
    assert sorted(b[0] for b in BUGS) == sorted(
        p.name for p in CORPUS.glob("bug_*.py") if p.name != "bug_raises_before_fit.py"
    )


@pytest.mark.parametrize(
    "name,check,words",
    [b if i < 2 else pytest.param(*b, marks=pytest.mark.slow) for i, b in enumerate(BUGS)],
)
def test_planted_bugs_are_caught(name, check, words, tmp_path, capsys):
    code, printed, saved = run_check(name, tmp_path, capsys)
    result = next(r for r in saved["results"] if r["name"] == check)
    assert code == 1 and result["status"] == "fail" and words in result["message"], result
    assert f"[FAIL] {check}" in printed.out
    assert not [r for r in saved["results"] if r["message"].startswith("could not run")]


@pytest.mark.slow
@pytest.mark.parametrize("seed", [2, 3])
@pytest.mark.parametrize("name,check,words", BUGS)
def test_planted_bugs_are_caught_over_seeds(name, check, words, seed, tmp_path, capsys):
    code, _, saved = run_check(name, tmp_path, capsys, seed=seed)
    assert code == 1 and saved["results"][[r["name"] for r in saved["results"]].index(check)][
        "status"
    ] == "fail"


def test_a_script_that_raises_exits_1_as_python_and_one_that_never_fits_2(tmp_path, capsys):
    code, printed, saved = run_check("bug_raises_before_fit.py", tmp_path, capsys)
    assert code == 1 and "RuntimeError: the script's own bug, before fit" in printed.out
    assert "raised an error before calling fit" in printed.err and not saved["results"]
    (tmp_path / "nofit.py").write_text("x = 1\n")
    out = tmp_path / "o2"
    assert main(["check", "--out", str(out), str(tmp_path / "nofit.py")]) == 2
    assert "without calling model.fit" in capsys.readouterr().err


def test_train_lets_the_script_go_on_and_a_generator_keeps_its_batches(tmp_path, capsys):
    code, printed, saved = run_check("ok_generator_input.py", tmp_path, capsys, "--train")
    assert code == 0 and "trained 3" in printed.out  # the script's own fit ran all epochs
    watched = {r["name"]: r["status"] for r in saved["results"]}
    assert len(watched) > N and watched.get("training_progress") == "pass"  # read the epochs


@pytest.mark.slow
def test_a_script_that_fits_twice_is_checked_at_its_first_fit_and_says_so(tmp_path, capsys):
    code, printed, saved = run_check("ok_two_fits_fine_tuning.py", tmp_path, capsys, "--train")
    assert code == 0 and saved["fit_calls"] == 2
    assert saved["settings"]["learning_rate"] == "0.001"  # the first fit's, not the second's
    assert "calls fit 2 times; the first was checked" in (tmp_path / "out" / "check.md").read_text()


def test_zoo_check_in_python_leaves_the_model_as_it_was():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 6)).astype("float32")
    y = (x[:, 0] > 0).astype("int64")
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, activation="relu"),
                              keras.layers.Dense(2)])  # fmt: skip
    optimizer = keras.optimizers.Adam(1e-3)
    model.compile(optimizer, keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    before = [w.copy() for w in model.get_weights()]
    report = zoo.check(model, x, y, batch_size=16, epochs=5)
    assert report.passed and len(report.results) == N
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights(), strict=True))
    assert model.optimizer is optimizer and int(optimizer.iterations) == 0


def test_recipe_checks_as_a_callback_in_your_own_fit():
    from zoo.checks import RecipeChecks

    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 6)).astype("float32")
    y = (x[:, 0] > 0).astype("int64")
    inputs = keras.Input((6,))
    hidden = keras.layers.Dense(8, activation="relu", name="hidden")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(hidden))
    model.compile("adam", "sparse_categorical_crossentropy")
    lines = []
    quick = ("input_scale", "labels", "loss_at_init", "batch_independence")  # all: above
    checks = RecipeChecks(x, y, batch_size=16, epochs=2, checks=quick, say=lines.append)
    history = model.fit(x, y, batch_size=16, epochs=2, callbacks=[checks], verbose=0)
    assert len(history.history["loss"]) == 2 and len(checks.report.results) == len(quick)
    assert not checks.report.failed and len(lines) == len(quick)
    assert np.asarray(checks.history).shape == (3, 16)  # before training, then each epoch
    assert list(checks.dead_units) == ["hidden"]  # the ReLU layer, measured

    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    stop = RecipeChecks(x, y, checks=("loss_at_init",), stop_on_fail=True, say=lines.append)
    history = model.fit(x, y, epochs=5, callbacks=[stop], verbose=0)
    assert stop.report.failed and len(history.history["loss"]) == 1  # stopped in epoch 1


def test_the_checks_table_shows_no_python_none():
    """A check with no single figure shows a dash in report.md's table, not "None"."""
    from zoo.checks.base import CheckResult
    from zoo.checks.runner import ChecksReport

    report = ChecksReport([CheckResult("labels", "pass", None, None, "class ids 0..2")])
    assert "None" not in report.markdown() and "| labels | pass | – | – |" in report.markdown()
