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

The diagnosis is measured too: for every buggy program (and, with ``--real DIR``, the
real buggy/fixed pairs of ``../shared/real_bugs_dev`` whose buggy program trains worse
than its fix, from its ``cases.tsv``), whether the first root cause named is the bug's
own category (``EXPECTED``), whether its line is the bug's line (a line the fix
changes: for the ``FIXED`` scripts, the statements that read ``FIXED`` and the lines
that use what they assign; for a real pair, the lines that differ from ``fixed.py``, or
that border an insertion), and whether the fix trial clears the failing checks.

Correct programs are counted apart: every ``tests/check_corpus/ok_*.py`` (the corpus
written beside the checks) and, with ``--correct DIR``, every ``*.py`` of DIR (programs
written by others, e.g. keras-io examples with their data swapped for an offline copy;
files starting with ``_`` are helpers). A FAIL there is a false alarm; the table also
counts the checks that could not run and the checks' time (median and worst).

    python benchmarks/bug_detection.py [--only PREFIX] [--jobs 2] [--correct DIR ...]
                                       [--real ../shared/real_bugs_dev]
"""

from __future__ import annotations

import argparse
import ast
import csv
import difflib
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


# the checks whose finding is the bug's own category, by corpus category or script
EXPECTED = {
    "scale": {"input_scale"},
    "labels": {"labels"},
    "output": {"output_and_loss", "loss_at_init"},
    "grad": {"gradient_health", "loss_at_init", "dead_units"},
    "units": {"dead_units", "gradient_health", "loss_at_init", "loss_decreasing"},
    "lr": {"loss_decreasing", "overfit_one_batch", "fix:learning_rate"},
    "bug_labels_shuffled": {"input_independent_baseline", "labels"},
    "bug_frozen_model": {"overfit_one_batch", "loss_decreasing"},
    "bug_softmax_then_from_logits": {"loss_at_init", "output_and_loss"},
    "bug_inputs_zeroed": {"input_scale", "overfit_one_batch", "input_independent_baseline"},
    "bug_batch_statistics_in_model": {"batch_independence"},
    "bug_clipped_loss": {"loss_at_init"},
    "bug_l2_too_strong": {"regularization", "overfit_one_batch"},
    "bug_lr_decays_to_zero": {"loss_decreasing", "fix:learning_rate"},
    "bug_unseeded_random_layer": {"reproducibility"},
    "bug_dropout_before_logits": {"regularization"},
    "bug_validation_not_scaled": {"validation_data"},
    "bug_sequence_future_leak": {"sequence_leak"},
    "bug_batchnorm_momentum_lag": {"inference_mode"},
    # ../shared/real_bugs_dev, from each buggy.py's header (bug: / fix:)
    "at-gradient-vanish": {"gradient_health", "dead_units"},
    "at-improper-activation": {"output_and_loss", "loss_at_init"},
    "at-oscillating-loss": {"loss_decreasing", "overfit_one_batch", "fix:learning_rate"},
    "so31556268": {"output_and_loss", "loss_decreasing", "overfit_one_batch"},
    "so31880720": {"output_and_loss"},
    "so33969059": {"output_and_loss"},
    "so34311586": {"output_and_loss"},
    "so38648195": {"output_and_loss"},
    "so39217567": {"labels", "input_independent_baseline"},
    "so44066044": {"input_scale", "output_and_loss"},
    "so47352366": {"output_and_loss", "loss_at_init"},
    "so48221692": {"output_and_loss"},
    "so48385830": {"output_and_loss", "loss_at_init", "loss_decreasing"},
    "so48934338": {"loss_decreasing", "fix:learning_rate"},
    "so51930566": {"input_scale"},
    "so52800582": {"input_scale", "output_and_loss"},
    "so55328966": {"input_scale", "output_and_loss", "loss_decreasing"},
    "so59278771": {"input_scale", "output_and_loss"},
    "so59325381": {"labels"},
}


def fixed_lines(path: Path) -> set[int]:
    """The lines of a ``FIXED`` script that its fix touches: every statement that reads
    ``FIXED`` (an ``if FIXED:`` block whole), the statement just before such a block
    (what it amends), and the lines that use a name those statements assign."""
    tree = ast.parse(path.read_text())
    lines: set[int] = set()
    assigned: set[str] = set()
    body = [n for n in ast.walk(tree) if isinstance(n, ast.stmt)]
    for node in body:
        reads = [n for n in ast.walk(node) if isinstance(n, ast.Name) and n.id == "FIXED"
                 and isinstance(n.ctx, ast.Load)]  # fmt: skip
        if not reads or not isinstance(node, ast.If | ast.Assign | ast.Expr):
            continue
        if isinstance(node, ast.If) and any(n is node.test or n in ast.walk(node.test)
                                            for n in reads):  # fmt: skip
            lines.update(range(node.lineno, (node.end_lineno or node.lineno) + 1))
            before = [m for m in body if (m.end_lineno or m.lineno) < node.lineno]
            if before:
                lines.add(max(before, key=lambda m: m.end_lineno or m.lineno).lineno)
            made = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)
                    and isinstance(n.ctx, ast.Store)}  # fmt: skip
            lines.update(_last_assignments(tree, made, node.lineno))
        else:  # a statement that reads FIXED somewhere inside: the lines that do
            lines.update(n.lineno for n in reads)
            if node.lineno != node.end_lineno:  # a model built around it: not its uses
                continue
        for n in ast.walk(node):
            if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store):
                assigned.add(n.id)
    for n in ast.walk(tree):
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load) and n.id in assigned:
            lines.add(n.lineno)
    return lines


def _last_assignments(tree: ast.AST, names: set[str], before: int) -> set[int]:
    """The line that last assigned each of ``names`` before line ``before``: what a fix
    inserted after it amends (``X = preprocessing.scale(X)`` amends ``X = ...``)."""
    last: dict[str, int] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign | ast.AugAssign) and node.lineno < before:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                for n in ast.walk(target):
                    if isinstance(n, ast.Name) and n.id in names:
                        last[n.id] = max(last.get(n.id, 0), node.lineno)
    return set(last.values())


def differing_lines(buggy: Path, fixed: Path) -> set[int]:
    """The lines of ``buggy`` (1-based) that ``fixed`` changes, those bordering a line
    ``fixed`` inserts, and the lines that last assigned what an inserted line assigns."""
    a, b = buggy.read_text().splitlines(), fixed.read_text().splitlines()
    tree = ast.parse(buggy.read_text())
    lines: set[int] = set()
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b).get_opcodes():
        if op in ("replace", "delete"):
            lines.update(range(i1 + 1, i2 + 1))
        if op in ("replace", "insert"):
            if op == "insert":
                lines.update({i1, i1 + 1})
            try:
                made = {n.id for stmt in ast.parse("\n".join(x.strip() for x in b[j1:j2])).body
                        for n in ast.walk(stmt) if isinstance(n, ast.Name)
                        and isinstance(n.ctx, ast.Store)}  # fmt: skip
            except SyntaxError:  # part of a statement: nothing assigned to follow
                made = set()
            lines.update(_last_assignments(tree, made, i1 + 1))
    return lines


def real_pairs(folder: str) -> list[tuple[str, Path, Path, bool]]:
    """``(id, buggy.py, fixed.py, trains worse than its fix)`` of a real_bugs_dev folder."""
    worse = {}
    with open(Path(folder) / "cases.tsv") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            if row["label"] == "buggy":
                worse[row["id"]] = row["buggy_underperforms"] == "yes"
    return [(case, Path(folder) / case / "buggy.py", Path(folder) / case / "fixed.py",
             worse.get(case, False)) for case in sorted(worse)
            if (Path(folder) / case / "buggy.py").exists()]  # fmt: skip


def diagnosis_row(name: str, result: dict, expected: set[str], right_lines: set[int]) -> dict:
    """How the diagnosis of one buggy program did: the first root cause, its line, and
    its fix trial (a root cause whose trial, alone or with the other root causes' fixes
    together, cleared the failing checks)."""
    roots = result.get("diagnosis") or []
    first = roots[0] if roots else {}
    where = first.get("location") or {}
    trials = [d[key] for d in roots for key in ("trial", "together")
              if d.get(key) and "fixed" in d[key]]  # each fix alone, and the fixes together
    return {
        "script": name,
        "first_root": first.get("check"),
        "expected": sorted(expected),
        # a root cause whose fix is the learning rate names the learning-rate category
        "category_right": first.get("check") in expected or any(
            f"fix:{k}" in expected for k in first.get("fix") or {}),
        "line": where.get("line"),
        "code": where.get("code", ""),
        "line_right": where.get("line") in right_lines,
        "trial": ("cleared" if any(t["fixed"] for t in trials) else
                  "still failing" if any(t["fixed"] is False for t in trials) else
                  "warnings pass" if any(t.get("improved") for t in trials) else
                  "nothing failing" if trials else "none"),
        "failed": bool(result.get("failed")),
    }


def diagnosis_table(rows: list[dict]) -> str:
    """The diagnosis figures: root cause of the right category (and on the right line),
    fix trials that cleared the failing checks."""
    n = len(rows)
    right = sum(r["category_right"] for r in rows)
    both = sum(r["category_right"] and r["line_right"] for r in rows)
    cleared = sum(r["trial"] == "cleared" for r in rows)
    failing = sum(r["failed"] for r in rows)
    head = (f"Diagnosis of {n} buggy programs that train worse than their fix: first root cause "
            f"of the bug's category {right}/{n} ({right / max(n, 1):.0%}), and on the bug's "
            f"line {both}/{n} ({both / max(n, 1):.0%}); of the {failing} with a failing check, "
            f"the fix trial made the failing checks pass in {cleared} "
            f"({cleared / max(failing, 1):.0%}).")  # fmt: skip
    table = markdown_table(
        ["program", "first root cause", "bug's category", "line named", "right line",
         "fix trial"],
        [[r["script"], r["first_root"] or "—", ", ".join(r["expected"]),
          f"{r['line']}: `{r['code'][:50]}`" if r["line"] else "—",
          "yes" if r["line_right"] else "no", r["trial"]] for r in rows],
    )  # fmt: skip
    return head + "\n\n" + table


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


def run(path: Path, fixed: bool, cwd: Path = ROOT) -> dict:
    """``zoo check`` on one version in a fresh process: exit status, the checks that
    failed and warned, the diagnosis, seconds."""
    with tempfile.TemporaryDirectory() as out:
        command = [sys.executable, "-m", "zoo", "check", "--out", out, str(path)]
        if fixed:
            command.append("--fixed")
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, cwd=cwd,
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
        "diagnosis": report.get("diagnosis") or [],
        "seconds": round(seconds, 1),
        "error": done.stderr[-600:] if done.returncode not in (0, 1) else "",
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="", help="scripts or categories starting with this")
    parser.add_argument("--jobs", type=int, default=2, help="scripts checked at once")
    parser.add_argument("--correct", nargs="*", default=[], metavar="DIR",
                        help="folders of correct programs written by others (false alarms)")
    parser.add_argument("--real", default=None, metavar="DIR",
                        help="a real_bugs_dev folder: its buggy/fixed pairs, for the diagnosis")
    args = parser.parse_args(argv)
    pairs = scripts(args.only)
    correct = correct_programs(args.correct) if not args.only else []
    real = real_pairs(args.real) if args.real else []
    jobs = [(c, p, fixed) for c, p in pairs for fixed in (False, True)]
    jobs += [(c, p, None) for c, p in correct]
    jobs += [("real", p, "real") for _, bug, fix, _ in real for p in (bug, fix)]
    print(f"zoo check on {len(pairs)} buggy/fixed pairs ({len(jobs)} runs, {args.jobs} at once)",
          flush=True)  # fmt: skip
    started = time.perf_counter()
    done: dict[tuple[str, bool], dict] = {}

    def one(job):
        category, path, fixed = job
        if fixed == "real":
            result = run(path.resolve(), False, cwd=path.parent)
            done[(str(path), "real")] = result
        else:
            result = run(path, bool(fixed))
            done[(str(path) if fixed is None else path.stem, fixed)] = result
        elapsed = time.perf_counter() - started
        left = elapsed / len(done) * (len(jobs) - len(done))
        verdict = "FAIL" if result["exit"] == 1 else ("ok" if result["exit"] == 0 else "ERROR")
        name = f"{path.parent.name}/{path.stem}" if fixed == "real" else path.stem
        print(f"[{len(done)}/{len(jobs)}, ~{left:.0f}s left] {name}"
              f"{' --fixed' if fixed is True else ''}: {verdict} {','.join(result['failed'])} "
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
    if total:  # none with --only naming no corpus script (the real programs alone)
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
    diagnosed = [diagnosis_row(path.stem, done[(path.stem, False)],
                               EXPECTED.get(path.stem) or EXPECTED.get(category, set()),
                               fixed_lines(path)) for category, path in pairs]  # fmt: skip
    markdown += "\n\n" + diagnosis_table(diagnosed)
    if real:
        worse = [(case, bug, fix) for case, bug, fix, w in real if w]
        rows_real = [diagnosis_row(case, done[(str(bug), "real")], EXPECTED.get(case, set()),
                                   differing_lines(bug, fix)) for case, bug, fix in worse]
        fixed_failed = [case for case, _, fix, _ in real if done[(str(fix), "real")]["exit"] == 1]
        markdown += ("\n\nReal programs (" + args.real + "):\n\n" + diagnosis_table(rows_real)
                     + f"\n\nFixed real programs with a FAIL: {len(fixed_failed)}/{len(real)} "
                     f"({', '.join(fixed_failed) or '—'}).")  # fmt: skip
        diagnosed += rows_real
    if correct:
        markdown += "\n\n" + correct_table(correct, done)
    print(markdown)
    print(f"total {time.perf_counter() - started:.0f}s")
    if not args.only:
        write_result("bug_detection", machine(), {"pairs": rows, "diagnosis": diagnosed},
                     markdown)  # fmt: skip
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
