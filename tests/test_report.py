"""The data report (``zoo inspect``) on data with known problems."""

import numpy as np
from PIL import Image

from zoo.cli import main
from zoo.data import inspect_data, load


def findings(report, topic):
    return [f for f in report.findings if f.topic == topic]


def test_tabular_report_finds_leakage_imbalance_scale_missing_and_outliers(tmp_path):
    rng = np.random.default_rng(0)
    rows = ["small,miles,label"]
    for i in range(200):
        miles = rng.normal(1e8, 1e7) if i != 7 else 9e9  # one entry error
        rows.append(f"{rng.normal():.5f},{miles:.1f},{'rare' if i % 10 == 0 else 'common'}")
    rows += rows[1:41]  # 40 exact copies: most land in another split than their original
    rows.append("0.5,,common")
    path = tmp_path / "taxi.csv"
    path.write_text("\n".join(rows))
    report = inspect_data(path, tmp_path / "out")
    (leak,) = findings(report, "leakage")
    assert leak.level == "problem" and "exact copies of training examples" in leak.message
    assert report.stats["duplicates"]["across"]
    (classes,) = findings(report, "classes")
    assert classes.level == "warning" and "9.0x" in classes.message
    (scale,) = findings(report, "feature scale")
    assert "miles" in scale.message and "small" not in scale.message.split(":")[1]
    (missing,) = findings(report, "missing values")
    assert missing.level == "problem" and "miles (1)" in missing.message
    (outliers,) = findings(report, "outliers")
    assert "miles" in outliers.message
    text = (tmp_path / "out" / "report.md").read_text()
    assert "## Findings" in text and "| miles |" in text and "Do:" in text
    for png in ("class_counts.png", "histograms.png"):
        assert (tmp_path / "out" / png).stat().st_size > 5000
    assert report.worst == "problem"


def test_clean_bundled_data_has_no_problem(tmp_path):
    report = inspect_data("wine", tmp_path)
    assert report.worst in ("ok", "note", "warning")
    assert findings(report, "duplicates")[0].level == "ok"
    regression = inspect_data("diabetes", tmp_path / "d")
    assert findings(regression, "target")[0].message.startswith("mean 152.1")
    assert (tmp_path / "d" / "target.png").exists()


def test_image_report_lists_corrupt_files_sizes_and_conflicting_labels(tmp_path):
    root = tmp_path / "imgs"
    rng = np.random.default_rng(1)
    for c in ("a", "b"):
        (root / c).mkdir(parents=True)
        for i in range(10):
            pixels = rng.integers(0, 255, (6, 6)).astype("uint8")
            Image.fromarray(pixels, "L").save(root / c / f"{i}.png")
    (root / "b" / "same.png").write_bytes((root / "a" / "0.png").read_bytes())
    (root / "a" / "bad.jpg").write_bytes(b"garbage")
    report = inspect_data(root, tmp_path / "out")
    (files,) = [f for f in findings(report, "files") if f.level == "problem"]
    assert "bad.jpg" in files.message
    assert "bad.jpg" in (tmp_path / "out" / "report.md").read_text()
    assert findings(report, "labels")[0].level == "problem"
    assert report.stats["image_sizes"] == {"6x6": 21}
    assert (tmp_path / "out" / "samples.png").stat().st_size > 2000


def test_cli_inspect_prints_findings_and_writes_the_report(tmp_path, capsys):
    assert main(["inspect", "iris", "--run-dir", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out
    assert "[ok] size: 150 examples" in out and "report.md" in out
    assert (tmp_path / "r" / "report.md").exists()
    assert main(["inspect", str(tmp_path / "missing.csv")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_report_on_loaded_data_describes_the_splits_trained_on(tmp_path):
    """Given the data as loaded, the report describes its rows and splits (a
    cross-validation fold included), not a fresh split of the source."""
    loaded = load("iris", fold=(2, 5), seed=3)
    report = inspect_data(loaded, tmp_path / "fold")
    assert report.stats["examples"] == loaded.info.num_examples
    assert report.stats["examples"]["test"] == 30  # one fold of five, not 10% of 150
    fresh = inspect_data("iris", tmp_path / "fresh", seed=3)
    assert fresh.stats["examples"] != report.stats["examples"]
    assert (
        f"test {loaded.info.num_examples['test']}" in (tmp_path / "fold" / "report.md").read_text()
    )
