"""The benchmark scripts' own arithmetic and plumbing (their figures are not tested:
benchmarks print what they measure), zoo bench, and zoo.backend's oneDNN default."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from zoo.cli import main

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
# The scripts import each other from their folder; that folder leaves sys.path again
# at once, or its tuning.py would shadow the tuning package in later tests.
_path = list(sys.path)
sys.path.insert(0, str(BENCHMARKS))
import accuracy  # noqa: E402
import common  # noqa: E402  (benchmarks/common.py)
import report  # noqa: E402
import speed  # noqa: E402

sys.path[:] = _path


def test_steps_within_cuts_slow_configurations_to_the_budget():
    assert common.steps_within(0.1, steps=20, budget=60) == 20  # fast: all steps
    assert common.steps_within(10.0, steps=20, budget=60) == 6  # slow: what fits
    assert common.steps_within(100.0, steps=20, budget=60) == 2  # never fewer than 2
    assert common.warm_enough(11.0, budget=60) and not common.warm_enough(9.0, budget=60)


def test_timed_within_calls_a_slow_function_less_often():
    calls = []

    def fn():
        calls.append(1)
        if len(calls) > 1:  # the first call "traces" and is fast here
            import time

            time.sleep(0.05)

    times = common.timed_within(fn, steps=50, warmup=5, budget=0.12)
    assert len(times) == 2  # 0.05 s per call, 0.12 s budget: 2, not 50
    assert len(calls) == 2 + 2  # 0.05 * 6 > 0.12: two warm-up calls, not five
    assert all(t >= 0.05 for t in times)


def test_merge_rows_replaces_measured_rows_and_keeps_the_others():
    old = [{"model": "a", "mode": "train", "x": 1}, {"model": "b", "mode": "train", "x": 2}]
    new = [{"model": "b", "mode": "train", "x": 3}, {"model": "b", "mode": "infer", "x": 4}]
    merged = common.merge_rows(old, new, ("model", "mode"))
    assert sorted((r["model"], r["mode"], r["x"]) for r in merged) == [
        ("a", "train", 1),
        ("b", "infer", 4),
        ("b", "train", 3),
    ]


def test_previous_results_are_kept_only_from_the_same_machine(tmp_path):
    info = {"cpu": "CPU X", "cores": 2}
    out = tmp_path / "speed.json"
    assert speed.previous(out, info) == {}  # nothing yet
    out.write_text(json.dumps({"machine": info, "results": {"tta": {"model": "convnet"}}}))
    assert speed.previous(out, info) == {"tta": {"model": "convnet"}}
    assert speed.previous(out, {"cpu": "CPU Y", "cores": 2}) == {}


def test_tables_render_every_part_from_stored_figures():
    info = {
        "cpu": "CPU X", "cores": 2, "units": "avx2", "python": "3.11", "tensorflow": "2.21",
        "keras": "3.15", "tf_threads": "auto", "onednn": "on",
    }  # fmt: skip
    peak = {
        "float32": {"tf": {"gflops": 90.0, "n": 4096}, "torch": {"gflops": 130.0}, "peak": 130.0},
        "bfloat16": {"tf": {"gflops": 60.0, "n": 4096}, "peak": 60.0},
    }
    row = {
        "model": "cifar_resnet20", "precision": "float32", "mode": "train", "zoo": 300.0,
        "zoo_spread": 0.02, "zoo_mfu": 0.5, "torch": 250.0, "torch_spread": 0.01,
        "torch_mfu": 0.4,
    }  # fmt: skip
    onednn = {
        "model": "cifar_resnet20", "mode": "train", "onednn0": 180.0, "onednn0_spread": 0.0,
        "onednn1": 300.0, "onednn1_spread": 0.0, "speedup": 300 / 180,
    }  # fmt: skip
    precision = {
        "model": "convnet", "data": "digits", "epochs": 20, "side": None, "speedup": 0.1,
        "float32": {"accuracy": 0.99, "seconds_per_epoch": 1.0},
        "mixed_bfloat16": {"accuracy": None, "seconds_per_epoch": 10.0, "stopped": 10.0},
        "pick": "float32",
    }  # fmt: skip
    steps = [
        {"model": "digits convnet", "batch": 32, "steps_per_execution": v, "steps_per_s": s,
         "spread": 0.0, "flop_limited_ms": 0.05}
        for v, s in ((1, 50.0), (8, 80.0))
    ]  # fmt: skip
    results = {
        "commands": {"throughput": "python benchmarks/speed.py --parts throughput"},
        "peak": peak, "throughput": [row], "onednn": [onednn], "precision": [precision],
        "steps": steps,
    }  # fmt: skip
    page = speed.tables(results, info)
    assert "| cifar_resnet20 | float32 | train | 300.0 (±2%) | — | 250.0 (±1%) |" in page
    assert "1.20x" in page  # zoo / PyTorch
    assert "1.67x" in page  # oneDNN on / off
    assert "not trained (10.0x slower)" in page
    assert "| digits convnet | 32 | 8 | 80 (±0%) | 1.60x |" in page
    assert "`python benchmarks/speed.py --parts throughput`" in page


def test_peak_matmul_grows_until_a_call_is_long_enough():
    got = speed.one_peak("tf", "float32", seconds=0.0, repeats=1)
    assert got["n"] == 256 and got["gflops"] > 0  # a 0 s target stops at the first size


def test_throughput_of_one_configuration_in_this_process():
    got = speed.one_throughput(
        "zoo", "cifar_resnet20", "float32", "train", steps=3, warmup=2, budget=60
    )
    assert got["steps"] == 3 and got["batch"] == 128 and got["seconds"] > 0
    assert got["macs"] == 40_551_040  # 6 x MACs x ex/s is the MFU numerator


def test_report_page_lists_each_result_with_its_command(tmp_path):
    (tmp_path / "speed.json").write_text(
        json.dumps(
            {
                "command": "python benchmarks/speed.py --parts tta",
                "date": "2026-11-25",
                "machine": "machine: CPU X",
                "markdown": "machine: CPU X\n\n| a |\n|---|\n| 1 |",
                "results": {},
            }
        )
    )
    page = report.build(tmp_path)
    assert "## speed: Speed against" in page
    assert "`python benchmarks/speed.py --parts tta` (2026-11-25)" in page
    assert "| a |" in page


def test_accuracy_overrides_parse_as_config_fields_and_name_their_rows():
    parsed = accuracy.parse_overrides(
        ["augment=translate", "patience=20", 'model_kwargs={"hidden": [16], "dropout": 0.3}',
         "cross_fit=0"]
    )  # fmt: skip
    assert parsed == {
        "augment": "translate",
        "patience": 20,
        "model_kwargs": {"hidden": [16], "dropout": 0.3},
        "cross_fit": 0,  # the template's CROSS_FIT, not a TrainConfig field
    }
    assert accuracy.template_cross_fit("tabular_regression") == 5
    assert accuracy.template_cross_fit("image_classification") == 0
    for bad in ("nope=1", "seed=3", "data=iris", "augment"):
        with pytest.raises(ValueError, match="expected KEY=VALUE"):
            accuracy.parse_overrides([bad])
    assert accuracy.describe({}) == "template defaults"
    assert accuracy.describe({"patience": 20, "augment": "translate"}) == (
        'defaults + augment="translate", patience=20'
    )


def test_classical_panel_runs_on_the_benchmark_splits():
    rows = accuracy.run_classical("breast_cancer", [1])
    assert [r["model"] for r in rows] == list(accuracy.classical_models("breast_cancer"))
    assert all(0.9 < r["mean"] <= 1.0 and r["target"] == 0.98 for r in rows)
    lines = accuracy.classical_table(rows).splitlines()[2:]
    assert len(lines) == len(rows)
    for row, line in zip(rows, lines, strict=True):
        assert line.endswith("| yes |" if row["mean"] >= 0.98 else "| no |"), line


def test_benchmark_folder_does_not_shadow_the_tuning_package():
    import tuning

    assert str(BENCHMARKS) not in sys.path
    assert Path(tuning.__file__).parent.name == "tuning"  # the package, not benchmarks/


def test_zoo_bench_lists_the_benchmarks_and_refuses_an_unknown_one(capsys):
    assert main(["bench"]) == 0
    out = capsys.readouterr().out
    for name in ("speed", "accuracy", "tuning", "squeeze", "data_pipeline"):
        assert f"  {name} " in out
    assert "common" not in out and "torch_resnet" not in out
    assert main(["bench", "nope"]) == 2
    assert "unknown benchmark 'nope'" in capsys.readouterr().err


def _environment_after(code: str, **env) -> str:
    import os

    clean = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**clean, **env, "TF_CPP_MIN_LOG_LEVEL": "3"},
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.split()[-1]


@pytest.mark.slow  # 20 s: three fresh processes importing TensorFlow
def test_importing_zoo_first_turns_on_onednn_and_respects_the_user():
    import platform

    check = "from zoo.backend import onednn_enabled; print(onednn_enabled())"
    x86 = platform.machine().lower() in ("x86_64", "amd64")  # elsewhere zoo leaves it alone
    assert _environment_after(f"import zoo, keras; {check}") == str(x86)
    assert _environment_after(f"import zoo, keras; {check}", TF_ENABLE_ONEDNN_OPTS="0") == "False"
    # too late once TensorFlow is loaded: zoo leaves the variable alone
    late = "import tensorflow, zoo, os; print(os.environ.get('TF_ENABLE_ONEDNN_OPTS', 'unset'))"
    assert _environment_after(late) == "unset"
