"""`zoo check` runs a script exactly as `python` would and never loses the verdict:
the script's folder on sys.path, its own exit status, Keras' own refusal of a fit
call, empty and tiny data, notebooks, and Ctrl-C at any moment."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from zoo.checks import ALL_CHECKS
from zoo.cli import main

N = len(ALL_CHECKS)

MODEL = """
import keras, numpy as np
rng = np.random.default_rng(0)
x = rng.normal(size=({rows}, 6)).astype("float32")
y = (x[:, 0] > 0).astype("int64")
model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, activation="relu"),
                          keras.layers.Dense(2, activation="softmax")])
model.compile("adam", "sparse_categorical_crossentropy")
"""


def script(tmp_path, body: str, rows: int = 300, name: str = "train.py") -> Path:
    path = tmp_path / name
    path.write_text(MODEL.format(rows=rows) + textwrap.dedent(body))
    return path


def run(tmp_path, path, *extra, capsys=None, args=()):
    out = tmp_path / "out"
    code = main(["check", "--out", str(out), *extra, str(path), *args])
    saved = json.loads((out / "check.json").read_text()) if (out / "check.json").exists() else None
    printed = capsys.readouterr() if capsys else None
    return code, saved, printed


def test_a_helper_module_beside_the_script_is_imported_as_python_would(tmp_path, capsys):
    sub = tmp_path / "project"
    sub.mkdir()
    (sub / "helpers.py").write_text("def scale(v):\n    return v / 2.0\n")
    path = script(sub, """
        from helpers import scale
        import sys
        assert __name__ == "__main__" and __file__.endswith("train.py") and sys.argv[1] == "--x"
        model.fit(scale(x), y, epochs=1, verbose=0)
    """)
    code, saved, printed = run(tmp_path, path, capsys=capsys, args=["--x"])
    assert code == 0 and saved["results"], printed.err[-1500:]


def test_keras_refusing_the_fit_call_is_said_with_keras_words_and_exit_2(tmp_path, capsys):
    path = script(tmp_path, """
        import tensorflow as tf
        data = tf.data.Dataset.from_tensor_slices((x, y)).batch(32)
        model.fit(data, validation_split=0.2, epochs=1)
    """)
    code, saved, printed = run(tmp_path, path, capsys=capsys)
    assert code == 2 and "validation_split" in printed.err and "Keras refuses" in printed.err
    assert not saved["results"]


def test_a_first_training_step_that_fails_is_a_fail_with_its_cause(tmp_path, capsys):
    path = script(tmp_path, "model.fit(x, y + 1, epochs=1)\n")  # labels 1..2, two outputs
    code, saved, printed = run(tmp_path, path, capsys=capsys)
    failed = {r["name"]: r["message"] for r in saved["results"] if r["status"] == "fail"}
    assert code == 1 and "first_step" in failed and "labels" in failed, saved["results"]
    assert "numbered from 1" in failed["labels"] and "Received" in failed["first_step"]


def test_empty_data_is_refused_and_five_rows_do_not_blame_a_split(tmp_path, capsys):
    path = script(tmp_path, """
        keep = x[:, 0] > 100  # a filter that leaves nothing
        model.fit(x[keep], y[keep], epochs=1)
    """)
    code, saved, printed = run(tmp_path, path, capsys=capsys)
    assert code == 2 and "0 rows" in printed.err
    path = script(tmp_path, "model.fit(x, y, epochs=1)\n", rows=5, name="five.py")
    code, saved, printed = run(tmp_path, path, capsys=capsys)
    statuses = {r["name"]: r for r in saved["results"]}
    assert statuses["labels"]["status"] != "fail"
    assert statuses["input_independent_baseline"]["status"] == "warn"
    assert "too few" in statuses["input_independent_baseline"]["message"]


def test_a_script_that_raises_after_the_checks_under_train_exits_1(tmp_path, capsys):
    path = script(tmp_path, """
        model.fit(x, y, epochs=1, verbose=0)
        raise RuntimeError("after fit")
    """)
    code, saved, printed = run(tmp_path, path, "--train", capsys=capsys)
    assert code == 1 and "RuntimeError: after fit" in printed.out
    assert saved["results"] and "after the checks" in saved["problem"]


@pytest.mark.slow
def test_a_script_that_exits_with_a_status_after_the_checks_under_train_keeps_it(tmp_path, capsys):
    path = script(tmp_path, """
        import sys
        model.fit(x, y, epochs=1, verbose=0)
        sys.exit(3)
    """, name="exits.py")
    assert run(tmp_path, path, "--train", capsys=capsys)[0] == 3


def test_a_notebook_is_recognized_and_nothing_is_written(tmp_path, capsys):
    notebook = tmp_path / "train.ipynb"
    notebook.write_text(json.dumps({"cells": [], "nbformat": 4, "metadata": {}}))
    out = tmp_path / "out"
    assert main(["check", "--out", str(out), str(notebook)]) == 2
    err = capsys.readouterr().err
    assert "jupyter nbconvert --to script" in err and not out.exists()
    assert main(["check", "--out", str(out), str(tmp_path / "nothere.py")]) == 2
    assert "no such script" in capsys.readouterr().err and not out.exists()


def test_one_line_per_check_that_could_not_run_the_trace_in_check_md(tmp_path, capsys):
    path = script(tmp_path, """
        class Odd(keras.losses.Loss):
            def call(self, y_true, y_pred):
                raise RuntimeError("a loss that only fit can call")
        model.compile("adam", Odd())
        model.fit(x, y, epochs=1)
    """)
    code, saved, printed = run(tmp_path, path, capsys=capsys)
    assert "Traceback" not in printed.out
    md = (tmp_path / "out" / "check.md").read_text()
    errored = [r for r in saved["results"] if r["status"] == "error"]
    if errored:  # each said in one line, and its trace kept for check.md
        assert "could not" in saved["summary"] and "Checks that could not run" in md
        assert f"{N - len(errored)} of {N} checks ran" in saved["summary"]


@pytest.mark.slow
@pytest.mark.parametrize("delay", [4.0, 7.0, 10.0, 13.0])
def test_ctrl_c_at_any_moment_exits_130_with_the_checks_that_finished(tmp_path, delay):
    path = script(tmp_path, "model.fit(x, y, epochs=50, verbose=0)\n", rows=2000)
    out = tmp_path / "out"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.Popen([sys.executable, "-m", "zoo", "check", "--train", "--out", str(out),
                             str(path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)  # fmt: skip
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    if proc.returncode == 0:  # finished before the signal: nothing to test at this delay
        return
    assert proc.returncode == 130, stderr[-2000:]
    assert "Exception ignored" not in stderr and "Traceback" not in stderr
    if "checking the first fit" in stdout:  # the checks had begun: their report is kept
        saved = json.loads((out / "check.json").read_text())
        lines = [ln for ln in stdout.splitlines() if ln.startswith("  [")]
        assert len(saved["results"]) >= len(lines) - 1
