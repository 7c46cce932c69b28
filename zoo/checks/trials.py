"""The order of the fix trials (``run_trials``): each root cause's own fix
(``fixes.try_fixes``), then the fixes of the root causes that round leaves, then,
where each fix alone left checks failing (a program with two bugs), the fixes together
(``try_together``), with a learning rate for a training that no fix of its own
explains. The diagnosis is read again after each round."""

from __future__ import annotations

import math
from collections.abc import Callable

from zoo.checks.base import HARM, CheckResult
from zoo.checks.fixes import measured_harm, run_trial, trial_names, try_fixes


def run_trials(diagnose: Callable[[], list[CheckResult]], results: list[CheckResult],
               build: Callable, train: tuple, val: tuple, rerun: Callable,
               **limits) -> None:
    """The fix trials, and the diagnosis after them (``diagnose()``: the root causes
    now): each root cause's fix (``try_fixes``); then those of the root causes that
    round leaves (what a trial leaves failing is a finding of its own); then the fixes
    together where each alone left checks failing (``try_together``). ``limits``:
    ``model`` (the program's), ``allowed`` and ``order``, as ``try_fixes`` takes them."""
    for _ in range(2):
        try_fixes(diagnose(), results, build, train, val, rerun, **limits)
    try_together(diagnose(), results, build, train, val, rerun, **limits)
    _harm_elsewhere(results)
    diagnose()


def _harm_elsewhere(results: list[CheckResult]) -> None:
    """An input scale that failed on the trainings' failures alone goes back to a
    warning when another root cause's fix, the inputs untouched, makes those trainings
    pass: the harm measured was not the scale's."""
    scale = next((r for r in results if r.name == "input_scale" and r.status == "fail"), None)
    if scale is None or "standardized" in scale.details:  # its own harm was measured
        return
    harmed = [r.name for r in results if r.name in HARM and r.status == "fail"]
    for r in results:
        trial = r.details.get("trial") or {}
        if r is not scale and trial.get("fixed") and set(harmed) <= set(trial["cleared"]):
            scale.status, scale.passed = "warn", True
            own = (scale.details.get("trial") or {}).get("checks", {}).get("input_scale")
            if own:  # its trial is then that of a warning
                own["before"] = "warn"
                scale.details["trial"].update(cleared=[], still_failing=[], fixed=None,
                                              improved=own["after"] == "pass")  # fmt: skip
            scale.message += (f" (the trainings that failed, {', '.join(harmed)}, pass with "
                              f"{r.name}'s fix alone, the inputs as they are)")  # fmt: skip
            return


# the trainings a learning rate can leave failing
_RATE_BOUND = ("overfit_one_batch", "loss_decreasing")


def try_together(
    roots: list[CheckResult],
    results: list[CheckResult],
    build: Callable,
    train: tuple,
    val: tuple,
    rerun: Callable,
    *,
    model=None,
    allowed: Callable[[float], bool] = lambda seconds: True,
    order: tuple[str, ...] = (),
) -> dict | None:
    """Where each root cause's fix alone left checks failing (a program with two bugs),
    the fixes together: first the fixes of those root causes; then, if checks still
    fail, with each later root cause's fix added (a training that the fixes leave
    failing, with no fix of its own, gets the learning rate ten times lower where it
    diverged, else ten times higher: schedules too). The first combination that clears
    every failing check (or the last tried) goes into ``details["together"]`` of each
    root cause it joins, with ``roots``: their names; returns it."""
    partial = [r for r in roots if (r.details.get("trial") or {}).get("still_failing")]
    if not partial:
        return None
    base: dict = {}
    for r in partial:
        base = {**r.fix, **base}  # the first root's fix wins where two say the same
    later = [r for r in roots if r not in partial and "trial" not in r.details]
    tries = [(partial, base)] if len(partial) > 1 else []
    for r in later:
        for fix in [r.fix] if r.fix else _rate_fixes(r, partial, model):
            tries.append(([*partial, r], {**base, **fix}))
    last = None
    for joined, fix in tries:
        names = sorted({n for r in joined for n in [*trial_names(r, results, order),
                        *(r.details.get("trial") or {}).get("still_failing", ())]},
                       key=order.index)  # fmt: skip
        if not allowed(sum(r.seconds for r in results if r.name in names)):
            break
        trial = run_trial(fix, names, results, build, train, val, rerun)
        if "error" in trial:
            continue
        trial["roots"] = [r.name for r in joined]
        last = (joined, trial)
        if trial["fixed"]:
            break
    if last is None:
        return None
    joined, trial = last
    for r in joined:
        r.details["together"] = trial
    if trial["fixed"]:
        change = trial["change"]
        for r in joined:
            if "trial" not in r.details:  # the root this combination completes
                r.details.setdefault("fix", {}).update(
                    {k: v for k, v in trial["fix"].items() if k not in base})
            measured_harm(r, trial, change)
    return trial


def _rate_fixes(root: CheckResult, partial: list[CheckResult], model) -> list[dict]:
    """Learning-rate fixes for a training the other fixes left failing: ten, then a
    hundred times lower where it diverged (NaN, or a loss that grows) after those
    fixes, else higher (the program's rate, or its schedule's rates)."""
    if root.name not in _RATE_BOUND or model is None or model.optimizer is None:
        return []
    after = [c for r in partial for n, c in r.details["trial"]["checks"].items()
             if n in _RATE_BOUND and c["after"] == "fail"]  # fmt: skip
    if not after:
        return []
    lower = any("NaN" in c["message_after"] or "grows" in c["message_after"]
                or not _finite(c["measured_after"]) for c in after)  # fmt: skip
    step = 0.1 if lower else 10.0
    return [{"learning_rate_times": step}, {"learning_rate_times": step * step}]


def _finite(v) -> bool:
    try:
        return math.isfinite(float(v if v is not None else 0.0))
    except (TypeError, ValueError):  # a figure in words
        return True
