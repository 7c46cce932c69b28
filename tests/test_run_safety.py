"""A run folder never loses or corrupts a result: bad input refused before anything
is touched, one writer at a time, finished runs not trained over, exports and backups
cut short recovered, interrupts stopped cleanly and resumed, and messages that name
the real problem. No Python traceback reaches the user in any of them."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from zoo.cli import main
from zoo.data import DataError, load
from zoo.runfolder import hold

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONUNBUFFERED": "1"}
ROOT = Path(__file__).resolve().parents[1]


def snapshot(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished `zoo train iris` run (copy it before changing it)."""
    run = tmp_path_factory.mktemp("finished") / "run"
    assert main(["train", "iris", "--epochs", "2", "--run-dir", str(run)]) == 0
    return run


def copy_of(run: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(run, tmp_path / "copy"))


def test_a_failed_or_repeated_command_leaves_a_finished_run_byte_identical(finished, capsys):
    before = snapshot(finished)
    for argv, words in [
        (["train", "wine", "--lr", "nan"], "learning_rate=nan: must be a finite number"),
        (["train", "wine", "--epochs", "0"], "epochs=0: must be an integer >= 1"),
        (["train", "wine", "--epochs", "-1"], "epochs=-1: must be an integer >= 1"),
        (["train", "wine"], "holds a finished run (mlp on iris)"),
        (["train", "iris", "--epochs", "2"], "pass --overwrite to start it over"),
        (["recipe", "iris", "--epochs", "2"], "holds a finished run"),
    ]:
        assert main([*argv, "--run-dir", str(finished)]) == 2, argv
        assert words in capsys.readouterr().err, argv
    assert snapshot(finished) == before


def test_epochs_zero_writes_no_folder(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["recipe", "iris", "--epochs", "0"]) == 2
    assert "epochs=0: must be an integer >= 1" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_overwrite_starts_a_finished_run_over(finished, tmp_path, capsys):
    run = copy_of(finished, tmp_path)
    (run / "notes.txt").write_text("mine")
    assert main(["train", "wine", "--epochs", "1", "--run-dir", str(run), "--overwrite"]) == 0
    assert json.loads((run / "config.json").read_text())["data"] == "wine"
    assert len((run / "history.csv").read_text().splitlines()) == 2  # one epoch, no doubling
    assert not (run / "notes.txt").exists()


def test_a_second_writer_is_refused_naming_the_first(finished, tmp_path, capsys):
    run = copy_of(finished, tmp_path)
    before = snapshot(run)
    with hold(run):
        assert main(["export", str(run)]) == 2
        err = capsys.readouterr().err
        assert f"{run} is in use by process {os.getpid()}" in err and "another --run-dir" in err
    assert snapshot(run) == before  # the refused export wrote nothing
    assert not (run / ".lock").exists()  # released


def test_unfinished_run_with_other_settings_is_refused(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"data": "iris", "learning_rate": 0.01}))
    assert main(["train", "iris", "--epochs", "1", "--run-dir", str(run)]) == 2
    err = capsys.readouterr().err
    assert "unfinished run" in err and "learning_rate 0.01 there, 0.0003 here" in err
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "thesis.tex").write_text("x")
    assert main(["train", "iris", "--run-dir", str(tmp_path / "other")]) == 2
    assert "not a zoo run folder" in capsys.readouterr().err


_KILLED_DURING_EXPORT = r"""
import os, signal, sys
import keras
from zoo.cli import main
def write_out(self, filepath, **kwargs):
    os.makedirs(filepath, exist_ok=True)
    open(os.path.join(filepath, "saved_model.pb"), "wb").write(b"half")
    os.kill(os.getpid(), signal.SIGKILL)
type(keras.export.ExportArchive()).write_out = write_out
main(["train", "iris", "--epochs", "2", "--run-dir", sys.argv[1]])
"""


def test_export_killed_then_zoo_export_keeps_the_record(tmp_path, capsys):
    run = tmp_path / "run"
    done = subprocess.run(
        [sys.executable, "-c", _KILLED_DURING_EXPORT, str(run)],
        capture_output=True, text=True, env=ENV, timeout=300,
    )  # fmt: skip
    assert done.returncode == -signal.SIGKILL, done.stderr[-2000:]
    assert [p.name for p in run.glob(".export.tmp-*")]  # what the kill left behind
    assert "test" in json.loads((run / "metrics.json").read_text())  # written before export
    assert main(["export", str(run)]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["test"]["accuracy"] >= 0 and metrics["export"]["max_abs_diff"]
    assert not list(run.glob(".*tmp-*")) and not (run / ".lock").exists()


def _train(run: Path, epochs: int, stop_at: int | None = None, signum=signal.SIGTERM):
    """`zoo train digits` in a fresh process; with ``stop_at``, signalled when epoch
    ``stop_at`` starts. Returns (exit code, stdout, stderr)."""
    cmd = [sys.executable, "-m", "zoo.cli", "train", "digits", "--model", "mlp", "--epochs",
           str(epochs), "--patience", "100", "-v", "--run-dir", str(run)]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    out = []
    if stop_at:
        for line in proc.stdout:
            out.append(line)
            if line.startswith(f"Epoch {stop_at}/"):
                proc.send_signal(signum)
                break
    rest, err = proc.communicate(timeout=300)
    return proc.returncode, "".join(out) + rest, err


def test_sigterm_and_ctrl_c_stop_cleanly_and_the_run_resumes(tmp_path):
    run = tmp_path / "run"
    code, out, err = _train(run, epochs=8, stop_at=3)
    assert code == 128 + signal.SIGTERM, err[-2000:]
    assert "Traceback" not in err
    assert f"stopped by SIGTERM in epoch 3. What was written is kept in {run}" in err
    assert "the backup holds 2 finished epoch(s); run the same command again" in err
    assert json.loads((run / "backup" / "training_metadata.json").read_text())["epoch"] == 2

    # the same command resumes; Ctrl-C stops it again, as cleanly
    code, out, err = _train(run, epochs=8, stop_at=5, signum=signal.SIGINT)
    assert f"resuming {run}: 2 of 8 epochs were done (backup/); training continues from " \
           "epoch 3" in out  # fmt: skip
    assert code == 128 + signal.SIGINT and "Traceback" not in err, err[-3000:]
    assert "stopped by Ctrl-C (SIGINT) in epoch 5" in err
    assert "the backup holds 4 finished epoch(s)" in err
    lines = (run / "history.csv").read_text().splitlines()
    assert [row.split(",")[0] for row in lines[1:]] == ["0", "1", "2", "3"]  # each once


def test_a_corrupt_backup_falls_back_or_is_named(finished, tmp_path, capsys):
    run = copy_of(finished, tmp_path)
    for name in ("model.keras", "metrics.json"):  # as if stopped during epoch 3
        (run / name).unlink()
    backup = run / "backup"
    backup.mkdir()
    shutil.copy(run / "best.keras", tmp_path / "best.keras")
    from zoo import load_network

    model = load_network(run / "best.keras")
    model.save_weights(backup / "previous.weights.h5")
    (backup / "previous.weights.h5").rename(backup / "latest.weights.h5.bkp")
    (backup / "training_metadata.json.bkp").write_text('{"epoch": 1, "batch": 0}')
    (backup / "latest.weights.h5").write_bytes(b"\x89HDF\r\n truncated")
    (backup / "training_metadata.json").write_text('{"epoch": 2, "batch": 0}')
    config = json.loads((run / "config.json").read_text())
    argv = ["train", "iris", "--epochs", str(config["epochs"]), "--run-dir", str(run)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "backup/latest.weights.h5 is unreadable" in out
    assert "resumed from the backup's previous copy instead, after epoch 1" in out
    # the row of the epoch written after that copy is cut: every epoch appears once
    assert "2 epochs (1 in this session, after 1 before the interruption)" in out
    rows = (run / "history.csv").read_text().splitlines()[1:]
    assert [row.split(",")[0] for row in rows] == ["0", "1"]
    assert json.loads((run / "metrics.json").read_text())["epochs_run"] == 2

    (run / "model.keras").unlink()
    (run / "metrics.json").unlink()
    backup.mkdir()
    (backup / "latest.weights.h5").write_bytes(b"")
    (backup / "training_metadata.json").write_text('{"epoch": ')
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "cannot resume the interrupted run" in err
    assert "training_metadata.json is unreadable" in err and "--overwrite" in err


@pytest.mark.slow
def test_killed_after_epoch_two_with_the_latest_backup_cut_resumes_each_epoch_once(tmp_path):
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "zoo.cli", "train", "digits", "--model", "mlp", "--epochs", "4",
           "--patience", "100", "--run-dir", str(run)]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)
    history = run / "history.csv"
    while not (history.exists() and len(history.read_text().splitlines()) >= 3):
        assert proc.poll() is None, "the run ended before its second epoch was recorded"
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    latest = run / "backup" / "latest.weights.h5"
    latest.write_bytes(latest.read_bytes()[: latest.stat().st_size // 3])  # a full disk
    done = subprocess.run(cmd, capture_output=True, text=True, env=ENV, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "backup/latest.weights.h5 is unreadable" in done.stdout
    assert "resumed from the backup's previous copy instead, after epoch 1" in done.stdout
    assert "4 epochs (3 in this session, after 1 before the interruption)" in done.stdout
    rows = history.read_text().splitlines()[1:]
    assert [row.split(",")[0] for row in rows] == ["0", "1", "2", "3"]
    assert json.loads((run / "metrics.json").read_text())["epochs_run"] == 4


def test_duplicate_columns_bom_and_semicolons_in_csv(tmp_path):
    dup = tmp_path / "dup.csv"
    dup.write_text("a,b,label,label\n" + "\n".join(f"{i},{i},{i % 2},{i % 2}" for i in range(20)))
    with pytest.raises(DataError, match="more than one column named 'label'"):
        load(str(dup))
    bom = tmp_path / "bom.csv"
    bom.write_bytes(
        b"\xef\xbb\xbflabel,a\n" + "\n".join(f"{i % 2},{i}" for i in range(30)).encode()
    )
    assert load(str(bom)).info.feature_names == ["a"]
    semi = tmp_path / "semi.csv"
    semi.write_text("a;b;label\n" + "\n".join(f"{i};{i * 2};{i % 2}" for i in range(30)))
    assert load(str(semi)).info.feature_names == ["a", "b"]
    (tmp_path / "one.csv").write_text("a;b;target\n1;2;0\n3;4;1\n")
    with pytest.raises(DataError, match=r"separated by semicolons\) are 'a', 'b', 'target'"):
        load(str(tmp_path / "one.csv"))


def test_clearer_messages(finished, tmp_path, capsys, monkeypatch):
    assert main(["train", "tfds:", "--run-dir", str(tmp_path / "t")]) == 2
    assert "name the TFDS data set after tfds:" in capsys.readouterr().err

    run = copy_of(finished, tmp_path)
    data = (run / "model.keras").read_bytes()
    (run / "model.keras").write_bytes(data[: len(data) // 2])
    assert main(["evaluate", str(run)]) == 2
    err = capsys.readouterr().err
    assert "model.keras exists but is unreadable" in err and "best.keras" in err

    monkeypatch.chdir(tmp_path)
    Path("runs").write_text("a file where the runs folder would go")
    assert main(["train", "iris", "--epochs", "1"]) == 2
    err = capsys.readouterr().err
    assert "cannot create the run folder" in err and "--run-dir" in err

    assert main(["inspect", "iris", "--run-dir", str(tmp_path / "i")]) == 0
    assert "[ok] classes: 3 classes, 50 examples each" in capsys.readouterr().out
