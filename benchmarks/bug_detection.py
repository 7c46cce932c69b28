"""How many of the bugs people post does `zoo check` find, and does it stay quiet on
the fixed programs?

Every script of ``benchmarks/bug_corpus/`` (and the recipe's planted bugs in
``tests/check_corpus/bug_*.py``) is a small Keras program with one bug; run with
``--fixed`` it is the same program with that bug fixed. Each is run both ways through
``zoo check`` as a user runs it (a fresh process, exit status 1 when a check fails).
Found: the buggy version fails a check. False alarm: the fixed version fails one.
Warnings are counted apart (they do not fail a program). Prints a table per category
and the per-script figures, writes ``benchmarks/results/bug_detection.json``; asserts
nothing.

Correct programs are counted apart: every ``tests/check_corpus/ok_*.py`` (the corpus
written beside the checks) and, with ``--correct DIR``, every ``*.py`` of DIR (programs
written by others, e.g. keras-io examples with their data swapped for an offline copy;
files starting with ``_`` are helpers). A FAIL there is a false alarm; the table also
counts the checks that could not run and the checks' time (median and worst).

    python benchmarks/bug_detection.py [--only PREFIX] [--jobs 2] [--correct DIR ...]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ROOT, machine, markdown_table, write_result  # noqa: E402

CORPUS = ROOT / "benchmarks" / "bug_corpus"
RECIPE = ROOT / "tests" / "check_corpus"
CATEGORIES = {
    "scale": "input scale",
    "labels": "labels",
    "output": "output, loss and task",
    "grad": "gradient health",
    "units": "dead and saturated units",
    "lr": "learning rate and stability",
    "recipe": "the recipe's planted bugs",
}


def scripts(only: str = "") -> list[tuple[str, Path]]:
    """``(category, path)`` of every buggy/fixed pair."""
    found = [(p.name.split("_", 1)[0], p) for p in sorted(CORPUS.glob("*.py"))]
    found += [("recipe", p) for p in sorted(RECIPE.glob("bug_*.py"))
              if "FIXED" in p.read_text()]  # fmt: skip
    return [(c, p) for c, p in found if p.stem.startswith(only) or c.startswith(only)]


def correct_programs(folders: list[str]) -> list[tuple[str, Path]]:
    """``(corpus, path)`` of every correct program: the recipe's ``ok_*`` scripts, then
    each folder's ``*.py`` (not ``_*``)."""
    found = [("ours (tests/check_corpus/ok_*)", p) for p in sorted(RECIPE.glob("ok_*.py"))]
    for folder in folders:
        found += [(f"{folder}", p) for p in sorted(Path(folder).glob("*.py"))
                  if not p.name.startswith("_")]  # fmt: skip
    return found


def run(path: Path, fixed: bool) -> dict:
    """``zoo check`` on one version in a fresh process: exit status, the checks that
    failed and warned, seconds."""
    with tempfile.TemporaryDirectory() as out:
        command = [sys.executable, "-m", "zoo", "check", "--out", out, str(path)]
        if fixed:
            command.append("--fixed")
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT,
                              env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})  # fmt: skip
        seconds = time.perf_counter() - start
        try:
            report = json.loads((Path(out) / "check.json").read_text())
        except (OSError, ValueError):
            report = {"results": []}
    results = report.get("results", [])
    return {
        "exit": done.returncode,
        "failed": [r["name"] for r in results if r["status"] == "fail"],
        "warned": [r["name"] for r in results if r["status"] == "warn"],
        "errored": [r["name"] for r in results if r["status"] == "error"],
        "checks_seconds": report.get("checks_seconds"),
        "seconds": round(seconds, 1),
        "error": done.stderr[-600:] if done.returncode not in (0, 1) else "",
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="", help="scripts or categories starting with this")
    parser.add_argument("--jobs", type=int, default=2, help="scripts checked at once")
    parser.add_argument("--correct", nargs="*", default=[], metavar="DIR",
                        help="folders of correct programs written by others (false alarms)")
    args = parser.parse_args(argv)
    pairs = scripts(args.only)
    correct = correct_programs(args.correct) if not args.only else []
    jobs = [(c, p, fixed) for c, p in pairs for fixed in (False, True)]
    jobs += [(c, p, None) for c, p in correct]
    print(f"zoo check on {len(pairs)} buggy/fixed pairs ({len(jobs)} runs, {args.jobs} at once)",
          flush=True)  # fmt: skip
    started = time.perf_counter()
    done: dict[tuple[str, bool], dict] = {}

    def one(job):
        category, path, fixed = job
        result = run(path, bool(fixed))
        done[(str(path) if fixed is None else path.stem, fixed)] = result
        elapsed = time.perf_counter() - started
        left = elapsed / len(done) * (len(jobs) - len(done))
        verdict = "FAIL" if result["exit"] == 1 else ("ok" if result["exit"] == 0 else "ERROR")
        print(f"[{len(done)}/{len(jobs)}, ~{left:.0f}s left] {path.stem}"
              f"{' --fixed' if fixed else ''}: {verdict} {','.join(result['failed'])} "
              f"({result['seconds']}s)", flush=True)  # fmt: skip
        return result

    with ThreadPoolExecutor(args.jobs) as pool:
        list(pool.map(one, jobs))
    rows = []
    for category, path in pairs:
        bug, fix = done[(path.stem, False)], done[(path.stem, True)]
        rows.append({
            "category": category, "script": path.stem,
            "found": bug["exit"] == 1, "found_by": bug["failed"], "buggy_warned": bug["warned"],
            "false_alarm": fix["exit"] == 1, "fixed_failed": fix["failed"],
            "fixed_warned": fix["warned"], "could_not_check": [
                v for v, r in (("buggy", bug), ("fixed", fix)) if r["exit"] not in (0, 1)],
            "seconds": [bug["seconds"], fix["seconds"]],
        })  # fmt: skip
    summary = []
    for category, words in CATEGORIES.items():
        mine = [r for r in rows if r["category"] == category]
        if not mine:
            continue
        summary.append([
            words, len(mine), sum(r["found"] for r in mine),
            ", ".join(r["script"] for r in mine if not r["found"]) or "—",
            sum(r["false_alarm"] for r in mine),
            sum(bool(r["fixed_warned"]) for r in mine),
            f"{sum(sum(r['seconds']) for r in mine) / (2 * len(mine)):.1f}",
        ])  # fmt: skip
    total = len(rows)
    found = sum(r["found"] for r in rows)
    alarms = sum(r["false_alarm"] for r in rows)
    summary.append(["**all**", total, f"**{found}** ({found / total:.0%})", "",
                    f"**{alarms}**", sum(bool(r["fixed_warned"]) for r in rows),
                    f"{sum(sum(r['seconds']) for r in rows) / (2 * total):.1f}"])  # fmt: skip
    table = markdown_table(
        ["category", "pairs", "found (a check fails)", "missed", "false alarms on fixed",
         "fixed with a warning", "s per script"],
        summary,
    )  # fmt: skip
    detail = markdown_table(
        ["script", "found by (failed checks)", "fixed version: failed / warned"],
        [[r["script"], ", ".join(r["found_by"]) or "**missed**",
          (", ".join(r["fixed_failed"]) or "—") + " / " + (", ".join(r["fixed_warned"]) or "—")]
         for r in rows],
    )  # fmt: skip
    markdown = (
        f"{table}\n\nPer script (each run is `zoo check script.py` in a fresh process, "
        f"start-up included):\n\n{detail}"
    )
    if correct:
        markdown += "\n\n" + correct_table(correct, done)
    print(markdown)
    print(f"total {time.perf_counter() - started:.0f}s")
    if not args.only:
        write_result("bug_detection", machine(), rows, markdown)
    return 0


def correct_table(correct: list[tuple[str, Path]], done: dict) -> str:
    """False alarms, checks that could not run and the checks' time on correct
    programs, a row per corpus, then the programs that had any."""
    rows, notes = [], []
    for corpus in dict.fromkeys(c for c, _ in correct):
        mine = [done[(str(p), None)] | {"name": p.name} for c, p in correct if c == corpus]
        times = sorted(r["checks_seconds"] for r in mine if r.get("checks_seconds"))
        median = f"{times[len(times) // 2]:.1f}" if times else "—"
        rows.append([corpus, len(mine), sum(r["exit"] == 1 for r in mine),
                     sum(r["exit"] not in (0, 1) for r in mine),
                     sum(bool(r["errored"]) for r in mine), median,
                     f"{times[-1]:.1f}" if times else "—"])  # fmt: skip
        for r in mine:
            if r["exit"] != 0 or r["errored"]:
                notes.append(f"- {r['name']}: exit {r['exit']}; failed {r['failed'] or '—'}; "
                             f"could not run {r['errored'] or '—'}")  # fmt: skip
    table = markdown_table(
        ["correct programs", "programs", "false alarms (a FAIL)", "could not check",
         "with checks that could not run", "checks s (median)", "checks s (worst)"], rows)
    return "Correct programs:\n\n" + table + ("\n\n" + "\n".join(notes) if notes else "")


if __name__ == "__main__":
    sys.exit(main())
