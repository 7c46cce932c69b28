"""The diagnosis over the checks' results: root causes first, their consequences shown
under them without advice of their own, each finding placed on the line of the user's
code that made its cause, and for each root cause with a mechanical fix a *fix trial*:
the fix applied to a copy and the failing checks run again, before and after.

``diagnose(report)`` orders the findings and marks ``caused_by``; ``fixes.try_fixes``
runs the trials (a trial that does not clear a consequence takes the mark back: the
finding is then a cause of its own, and ``diagnose`` leaves it so); ``locate(report,
sites, model)`` adds ``location``.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from zoo.checks.base import CheckResult
from zoo.checks.locate import Sites
from zoo.outputs import activation_layer

TRAINING = ("loss_at_init", "overfit_one_batch", "loss_decreasing", "input_independent_baseline",
            "inference_mode", "gradient_health", "dead_units", "first_step")  # fmt: skip
# what each kind of root cause explains when it is found beside these findings
EXPLAINS: dict[str, tuple[str, ...]] = {
    "labels": TRAINING,
    "output_and_loss": TRAINING,
    "loss_at_init": tuple(n for n in TRAINING if n != "loss_at_init"),
    "input_scale": ("loss_at_init", "overfit_one_batch", "loss_decreasing",
                    "input_independent_baseline", "gradient_health", "dead_units", "first_step"),
    "validation_data": ("input_independent_baseline",),
    "frozen_inputs": ("overfit_one_batch", "loss_decreasing", "input_independent_baseline"),
    "regularization": ("overfit_one_batch", "loss_decreasing", "input_independent_baseline",
                       "inference_mode", "gradient_health", "dead_units"),
    "sequence_leak": (),
    "loss_decreasing": ("overfit_one_batch", "input_independent_baseline", "gradient_health",
                        "dead_units", "inference_mode", "loss_at_init"),
    "inference_mode": ("input_independent_baseline",),
    "reproducibility": (),
    "batch_independence": ("input_independent_baseline",),
    "gradient_health": ("dead_units", "overfit_one_batch", "loss_decreasing",
                        "input_independent_baseline"),
    "dead_units": ("overfit_one_batch", "loss_decreasing", "input_independent_baseline",
                   "gradient_health"),
    "overfit_one_batch": ("loss_decreasing", "input_independent_baseline"),
}  # fmt: skip
# the order in which causes are looked for: the setup before what training shows
PRECEDENCE = ("labels", "output_and_loss", "loss_at_init", "input_scale", "validation_data",
              "frozen_inputs", "sequence_leak", "regularization", "loss_decreasing",
              "inference_mode", "gradient_health", "dead_units", "overfit_one_batch")  # fmt: skip


def _bad(r: CheckResult) -> bool:
    return r.status in ("warn", "fail")


def _explains(root: CheckResult, other: CheckResult) -> bool:
    if other.name not in EXPLAINS.get(root.name, ()) or not _bad(other):
        return False
    if root.name == "loss_at_init" and not root.details.get("root"):
        return False  # the init scale or the output bias: slow, not the cause of failures
    if other.name in (root.details.get("trial") or {}).get("still_failing", ()):
        return False  # its fix trial left it failing: a finding of its own (or another's)
    if root.name == "inference_mode":  # only a baseline that learned in training mode
        d = other.details
        real, zeros = d.get("real", {}), d.get("zeros", {})
        train = real.get("training", math.nan) / max(zeros.get("training", math.nan), 1e-12)
        return bool(train < 0.98)
    return True


def diagnose(results: list[CheckResult]) -> list[CheckResult]:
    """The root causes among ``results``, most basic first; each finding a root cause
    explains gets ``caused_by``. Findings are taken in causal order (``PRECEDENCE``:
    the setup before what training shows): each one not yet explained is a root cause
    and claims the later findings it explains (``EXPLAINS``). Root causes that fail, or
    that explain a failure, come first; then the warnings that stand alone."""
    for r in results:
        r.caused_by = None
    order = {name: i for i, name in enumerate(PRECEDENCE)}

    def rank(r: CheckResult) -> tuple:
        place = order.get(r.name, len(order))
        if r.name == "loss_at_init" and not r.details.get("root"):
            place = len(order)  # a slow start, read after the rest
        elif r.name in ("loss_decreasing", "overfit_one_batch") and not r.details.get("root"):
            place = order["dead_units"] + 0.5  # what the layers' figures may explain
        elif r.name == "gradient_health" and "zero gradient" in r.message:
            place = order["dead_units"] + 0.25  # behind dead units, as it says
        return place, results.index(r)

    ranked = sorted((r for r in results if _bad(r)), key=rank)
    roots: list[CheckResult] = []
    for r in ranked:
        if r.caused_by is not None:
            continue
        roots.append(r)
        for o in results:
            if o is not r and o.caused_by is None and o not in roots and _explains(r, o):
                o.caused_by = r.name

    def weight(r: CheckResult) -> int:
        if r.status == "fail":
            return 0
        return 1 if any(o.caused_by == r.name and o.status == "fail" for o in results) else 2

    return sorted(roots, key=lambda r: (weight(r), roots.index(r)))


# ---------------------------------------------------------------- locations

# what each finding is about, where the user's code made it
_SUBJECT = {
    "input_scale": ("x", "fit"),
    "validation_data": ("validation", "fit"),
    "labels": ("y", "fit"),
    "input_independent_baseline": ("x", "fit"),
    "loss_decreasing": ("optimizer", "compile"),
    "overfit_one_batch": ("optimizer", "compile"),
    "first_step": ("compile", "fit"),
    "loss_at_init": ("compile",),
    "reproducibility": ("fit",),
}


def subject_layer(result: CheckResult, model) -> str | None:
    """The name of the layer a finding is about, where it is about one."""
    details = result.details
    if {"learning_rate", "learning_rate_times"} & set(result.fix):
        return None  # the layer shows it; the rate is changed where the optimizer is made
    if details.get("layer"):
        return details["layer"]
    only_loss = ("loss" in result.fix or "from_logits" in result.fix) and (
        "activation" not in result.fix)
    if only_loss or (result.name == "loss_at_init" and result.details.get("root")):
        return None  # a loss: compile's loss= line
    if "targets" in result.fix:
        return None  # the targets: where y was made
    if result.name in ("output_and_loss", "loss_at_init"):
        layer = activation_layer(model) if model is not None else None
        return None if layer is None else layer.name
    if result.name in ("gradient_health", "dead_units") and details.get("layers"):
        values = details.get("after") or details.get("init") or []
        finite = [(float(v), i) for i, v in enumerate(values)
                  if isinstance(v, float | int | np.floating) and math.isfinite(v)]  # fmt: skip
        if finite:
            pick = min(finite) if result.name == "gradient_health" else max(finite)
            return details["layers"][pick[1]]
    return None


def subjects(r: CheckResult) -> tuple[str, ...]:
    """Where a finding's cause was given, most precise first: its fix says what must
    change (a loss is changed in compile's ``loss=``, a learning rate where the
    optimizer is made, a split in ``fit``)."""
    fix = r.fix
    if fix.get("unfreeze"):
        return ("frozen", "compile")
    if r.name == "loss_decreasing" and r.message.startswith("learning-rate schedule"):
        return ("schedule", "optimizer", "compile")
    if "learning_rate_times" in fix:  # a schedule's rates, or the constant one
        return ("schedule", "optimizer", "compile")
    if "learning_rate" in fix:
        return ("optimizer", "compile")
    if fix.get("split"):
        return ("fit",)
    if "targets" in fix:
        return ("y", "fit")
    if ("loss" in fix or "from_logits" in fix) and "activation" not in fix:
        return ("loss", "compile")
    if r.name == "loss_at_init" and r.details.get("root"):
        return ("loss", "compile")
    return _SUBJECT.get(r.name, ("fit",))


def locate(results: list[CheckResult], sites: Sites, model=None) -> None:
    """``location`` for every finding that is not a pass: the layer it is about, else
    the call (``fit``, ``compile``'s loss, the optimizer, the arrays) its cause was
    given in."""
    for r in results:
        if r.status == "pass" or r.location is not None:
            continue
        where = None
        name = subject_layer(r, model)
        if name is not None:
            where = sites.layer(name)
        for subject in subjects(r):
            if where is None:
                where = sites.get(subject)
        if where is not None:
            r.location = where.as_dict()


# ---------------------------------------------------------------- words


def where_words(r: CheckResult) -> str:
    loc = r.location
    if not loc:
        return ""
    return f"{Path(loc['file']).name}:{loc['line']}  {loc['code']}"


def trial_words(trial: dict) -> str:
    """``"with a sigmoid output activation: loss_decreasing FAIL -> pass (4.1 s)"``."""
    if not trial or not ({"checks", "skipped", "error"} & set(trial)):
        return ""
    if "skipped" in trial or "error" in trial:
        return f"fix trial ({trial['change']}) not run: {trial.get('skipped') or trial['error']}"
    marks = {"pass": "pass", "warn": "warn", "fail": "FAIL", "error": "error", None: "-"}
    moves = ", ".join(
        f"{name} {marks[c['before']]} -> {marks[c['after']]}" for name, c in trial["checks"].items()
    )
    verdict = ("the failing checks pass" if trial["fixed"] else
               f"still failing: {', '.join(trial['still_failing'])}" if trial["still_failing"]
               else "nothing was failing; the warnings pass" if trial.get("improved")
               else "nothing was failing")  # fmt: skip
    return f"fix trial, with {trial['change']}: {moves}; {verdict} ({trial['seconds']:.1f} s)"


def together_here(root: CheckResult, roots: list[CheckResult]) -> bool:
    """Whether the trial of several root causes' fixes together is told under ``root``
    (the last of those it joins that is still a root cause)."""
    together = root.details.get("together")
    if not together:
        return False
    names = {r.name for r in roots}
    return [n for n in together["roots"] if n in names][-1:] == [root.name]


def together_words(trial: dict) -> str:
    """``"the fixes of output_and_loss and overfit_one_batch together, ..."``."""
    names = trial["roots"]
    joined = " and ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names)
    return f"the fixes of {joined} together: " + trial_words(trial).removeprefix("fix trial, ")


def lines(roots: list[CheckResult], results: list[CheckResult]) -> list[str]:
    """The diagnosis as text lines: each root cause with its line in the script, its
    evidence and fix (its message), the fix trial, and its consequences."""
    if not roots:
        bad = [r for r in results if _bad(r)]
        return ["Diagnosis: no root cause; " + (
            f"{len(bad)} warning(s), none that explains a failure" if bad
            else "every check passed")]  # fmt: skip
    serious = [r for r in roots if r.status == "fail"
               or any(o.caused_by == r.name and o.status == "fail" for o in results)]
    if serious:
        out = [f"Diagnosis: {len(roots)} root cause{'s' if len(roots) > 1 else ''}"]
    else:
        out = [f"Diagnosis: nothing fails; {len(roots)} warning{'s' if len(roots) > 1 else ''}"
               ", the most basic first"]
    marks = {"warn": "warn", "fail": "FAIL"}
    for i, root in enumerate(roots, 1):
        where = where_words(root)
        out.append(f"  {i}. {root.name} ({marks[root.status]})" + (f" at {where}" if where else ""))
        out.append(f"     {root.message}")
        trial = trial_words(root.details.get("trial") or {})
        if trial:
            out.append(f"     {trial}")
        if together_here(root, roots):
            out.append(f"     {together_words(root.details['together'])}")
        after = [r for r in results if r.caused_by == root.name]
        if after:
            out.append("     consequences (no advice of their own): " + ", ".join(
                f"{r.name} {marks[r.status]}" for r in after))  # fmt: skip
    return out


def consequence_words(r: CheckResult) -> str:
    """A consequence's figures without advice: ``"because of input_scale (measured
    2.31, expected <= 2.08)"``."""
    figures = []
    if r.measured is not None:
        figures.append(f"measured {_short(r.measured)}")
    if r.expected is not None:
        figures.append(f"expected {_short(r.expected)}")
    return f"because of {r.caused_by}" + (f" ({', '.join(figures)})" if figures else "")


def _short(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)
