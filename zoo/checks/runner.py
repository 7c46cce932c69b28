"""``run_checks``: the recipe's sanity checks in order, on a model that ``build``
makes fresh each time."""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from zoo.checks import base as C
from zoo.checks import baseline as B
from zoo.checks import diagnosis as D
from zoo.checks import independence as N
from zoo.checks import init as I
from zoo.checks import layers as L
from zoo.checks import pretrained as P
from zoo.checks import regularization as R
from zoo.checks import sequence as Q
from zoo.checks import setup as S
from zoo.checks import split as V
from zoo.checks import training as T
from zoo.checks import trials as TR
from zoo.outputs import init_output_bias


@dataclass
class ChecksReport:
    """The checks' results, in order, and how they were run (``plan``: the batch and
    steps the time budget allowed, with the reason)."""

    results: list[C.CheckResult] = field(default_factory=list)
    plan: dict = field(default_factory=dict)
    roots: list[C.CheckResult] = field(default_factory=list)  # the diagnosis: root causes

    def diagnose(self) -> list[C.CheckResult]:
        """Mark the root causes and their consequences again (after a result is added);
        the root causes."""
        self.roots = D.diagnose(self.results)
        return self.roots

    def diagnosis(self) -> list[str]:
        """The diagnosis as text lines (root causes, their lines, fix trials)."""
        return D.lines(self.roots, self.results)

    @property
    def passed(self) -> bool:
        """No check failed (a check that could not run is not a pass: see ``errored``)."""
        return all(r.passed for r in self.results)

    @property
    def failed(self) -> list[C.CheckResult]:
        return [r for r in self.results if r.status == "fail"]

    @property
    def warned(self) -> list[C.CheckResult]:
        return [r for r in self.results if r.status == "warn"]

    @property
    def errored(self) -> list[C.CheckResult]:
        """The checks that could not run, each with its reason."""
        return [r for r in self.results if r.status == "error"]

    def summary(self) -> str:
        """``"2 failed, 1 warned; 9 of 11 checks ran (2 could not: ...)"``."""
        ran = len(self.results) - len(self.errored)
        line = (
            f"{len(self.failed)} failed, {len(self.warned)} warned; {ran} of "
            f"{len(self.results)} checks ran"
        )
        if self.errored:
            line += f" ({', '.join(r.name for r in self.errored)} could not)"
        return line

    def __getitem__(self, name: str) -> C.CheckResult:
        for r in self.results:
            if r.name == name:
                return r
        raise KeyError(name)

    def markdown(self) -> str:
        head = "## Diagnosis\n\n" + _diagnosis_markdown(self.roots, self.results) + "\n"
        rows = ["| check | result | measured | expected | seconds |", "|---|---|---|---|---|"]
        for r in self.results:
            because = f" (because of {r.caused_by})" if r.caused_by else ""
            rows.append(
                f"| {r.name} | {_MARKS[r.status]}{because} | {_fmt(r.measured)} | "
                f"{_fmt(r.expected)} | {r.seconds:.1f} |"
            )
        notes = [f"- **{r.name}**: " + (D.consequence_words(r) if r.caused_by else r.message)
                 + (f" (`{D.where_words(r)}`)" if r.location and not r.caused_by else "")
                 for r in self.results]  # fmt: skip
        errors = [
            f"- **{r.name}**:\n\n```\n{r.details['trace'].rstrip()}\n```"
            for r in self.errored
            if r.details.get("trace")
        ]
        text = (head + "## Checks\n\n" + "\n".join(rows) + "\n\n" + self.summary() + ".\n\n"
                + "\n".join(notes) + "\n")  # fmt: skip
        if self.plan.get("note"):
            text += f"\n{self.plan['note']}\n"
        if errors:
            text += "\n## Checks that could not run\n\n" + "\n".join(errors) + "\n"
        return text


_MARKS = {"pass": "pass", "warn": "*warn*", "fail": "**FAIL**", "error": "*could not run*"}


def _diagnosis_markdown(roots: list[C.CheckResult], results: list[C.CheckResult]) -> str:
    if not roots:
        return D.lines(roots, results)[0].replace("Diagnosis: ", "").capitalize() + ".\n"
    out = []
    for i, root in enumerate(roots, 1):
        where = D.where_words(root)
        out.append(f"{i}. **{root.name}** ({_MARKS[root.status]})"
                   + (f" at `{where}`" if where else "") + f": {root.message}.")  # fmt: skip
        trial = D.trial_words(root.details.get("trial") or {})
        if trial:
            out.append(f"   - {trial}")
        if D.together_here(root, roots):
            out.append(f"   - {D.together_words(root.details['together'])}")
        after = [r for r in results if r.caused_by == root.name]
        if after:
            out.append("   - its consequences: " + ", ".join(
                f"{r.name} ({_MARKS[r.status]})" for r in after))  # fmt: skip
    return "\n".join(out) + "\n"


def _fmt(v) -> str:
    """A figure for the table: a dash where a check has no single figure."""
    return "–" if v is None else f"{v:.4g}" if isinstance(v, float) else str(v)

ALL_CHECKS = (
    "input_scale",
    "labels",
    "output_and_loss",
    "regularization",
    "validation_data",
    "frozen_inputs",
    "sequence_leak",
    "reproducibility",
    "loss_at_init",
    "overfit_one_batch",
    "batch_independence",
    "loss_decreasing",
    "input_independent_baseline",
    "inference_mode",
    "gradient_health",
    "dead_units",
)

# optimizer steps each check takes at full length; the time budget scales them down
STEPS = {"loss_decreasing": 100, "input_independent_baseline": 300, "layers": L.STEPS,
         "overfit_one_batch": 1000}  # fmt: skip
MIN_VALIDATION = 10  # fewer validation rows than this cannot judge a hold-out
MIN_ROWS = 50  # with no validation data, fewer rows than this leave no hold-out to judge


def _pack(x, y, w) -> tuple:
    return (x, y) if w is None else (x, y, w)


def plan_steps(again: Callable, train: tuple, batch_size: int, budget: float | None) -> dict:
    """The batch size and step counts the checks can afford within ``budget`` seconds,
    from a measured training step: ``{"batch_size", "steps": {check: n}, "step_seconds",
    "note"}``. A large batch is cut first (down to 32), then the steps (to a fifth at
    most), so a script with batch 2000 is checked in the same time as one with 32."""
    steps = dict(STEPS)
    plan = {"batch_size": batch_size, "steps": steps, "step_seconds": None, "note": ""}
    if not budget:
        return plan
    x, y, w = C.arrays(train)
    model = again()

    def step_time(batch: int) -> float:
        rows = np.arange(min(batch, len(x)))
        sw = None if w is None else [w[rows]] * 3
        C.train_batches(model, [x[rows]] * 3, [y[rows]] * 3, sw)  # traces once
        start = time.perf_counter()
        C.train_batches(model, [x[rows]] * 3, [y[rows]] * 3, sw)
        return (time.perf_counter() - start) / 3

    # the steps at the script's batch: reproducibility's 10, loss_decreasing, the
    # baseline's two trainings, the per-layer measurement; overfitting one batch of 16
    # costs about a quarter of a step at batch 32 on the models seen
    def cost(t: float, s: dict) -> float:
        small = 0.25 * s["overfit_one_batch"] * min(1.0, 32 / batch)
        return t * (10 + s["loss_decreasing"] + 2 * s["input_independent_baseline"]
                    + s["layers"] + small)  # fmt: skip

    batch = batch_size
    start = time.perf_counter()
    t = step_time(batch)
    trace = max(0.0, time.perf_counter() - start - 3 * t)  # the first call's tracing
    # the rest: the builds and traces (about three: reproducibility builds twice), the
    # forward passes read in both modes, the figures
    allowed = max(0.6 * budget - 3 * trace, 0.2 * budget)
    if cost(t, steps) > allowed and batch > 32:
        smaller = max(32, int(batch * allowed / cost(t, steps)))
        batch, t = smaller, step_time(smaller)
    factor = min(1.0, allowed / max(cost(t, steps), 1e-9))
    if factor < 1.0:
        factor = max(factor, 0.2)
        steps = {k: max(10, int(round(v * factor))) for k, v in steps.items()}
    plan.update(batch_size=batch, steps=steps, step_seconds=t, trace_seconds=trace)
    changed = []
    if batch != batch_size:
        changed.append(f"batch {batch} instead of the script's {batch_size}")
    if factor < 1.0:
        changed.append(f"{factor:.0%} of the usual steps")
    if changed:
        plan["note"] = (
            f"To stay within the {budget:g} s budget (a training step at batch {batch_size} "
            f"took {1000 * t:.0f} ms here), the checks ran with {' and '.join(changed)}; "
            "--budget raises it."
        )
    return plan  # the next again() puts the model back as it was


def could_not_run(name: str, err: BaseException, seconds: float = 0.0) -> C.CheckResult:
    """A check's own error as its result: ``error``, one line for the console, the
    traceback in ``details`` for check.md."""
    line = C.error_line(err, most=200)
    return C.CheckResult(
        name, True, None, None, f"could not run: {line}", seconds=seconds, status="error",
        details={"error": line, "trace": "".join(traceback.format_exception(err))[-4000:]},
    )  # fmt: skip


def run_checks(
    build: Callable,
    train,
    val=None,
    *,
    total_steps: int | None = None,
    checks: tuple[str, ...] = ALL_CHECKS,
    batch_size: int = 32,
    progress: Callable[[C.CheckResult], None] | None = None,
    set_output_bias: bool = True,
    budget: float | None = None,
    cannot: dict[str, str] | None = None,
    plan: dict | None = None,
    fix_trials: bool = True,
    own_holdout: bool | None = None,
    steps_known: bool = True,
) -> ChecksReport:
    """Run the sanity checks on models from ``build`` (a zero-argument callable that
    returns a fresh compiled model) with ``train`` (and ``val``) as ``tf.data`` batches
    or ``(x, y)`` / ``(x, y, sample_weight)`` arrays of model inputs: the weights are
    the program's (its ``sample_weight``, or its ``class_weight`` per row), and every
    training and loss the checks make uses them. ``total_steps`` is the planned length
    of training, for the learning-rate schedule check. ``progress`` is called with each
    result as it comes. Without ``val``, a fifth of ``train`` is held out for the
    input-independent baseline (and ``labels`` does not judge that split, which is not
    the program's). ``set_output_bias`` sets the output bias from the labels before the
    loss-at-init check (the recipe's "init well"); False checks the model as built.
    ``budget`` (seconds) sizes the checks' batch and steps from a measured step
    (``plan_steps``). A check that raises is reported as ``error`` with its reason, and
    the others still run; ``cannot`` names checks known not to apply, with the reason
    (reported as ``error`` too, never run). At the end the findings are diagnosed
    (``report.roots``: root causes first, ``caused_by`` on their consequences) and, with
    ``fix_trials``, each root cause's mechanical fix is tried on a copy, the failing
    checks run again with the same ``plan`` (``diagnosis.try_fixes``), within 1.5 times
    ``budget``. ``plan`` reuses a plan already made; ``own_holdout`` says that ``val``
    was cut from the training data by the checks, not given by the program;
    ``steps_known=False``: ``total_steps`` is a guess (no epochs given), not judged on."""
    started = time.perf_counter()
    unknown = set(checks) - set(ALL_CHECKS)
    if unknown:
        raise ValueError(f"Unknown check(s) {sorted(unknown)}; choose from {ALL_CHECKS}.")
    x, y, w = C.arrays(train)
    if len(x) == 0:
        raise ValueError("x has 0 rows: there is nothing to check.")
    held_out = own_holdout
    own_holdout = val is None or bool(held_out)
    if val is None:
        cut = max(1, len(x) // 5) if len(x) >= MIN_ROWS else 0
        xv, yv, wv = x[:cut], y[:cut], None if w is None else w[:cut]
        x, y, w = x[cut:], y[cut:], None if w is None else w[cut:]
    else:
        xv, yv, wv = C.arrays(val)
    train, val = _pack(x, y, w), _pack(xv, yv, wv)
    report = ChecksReport()

    def add(result: C.CheckResult) -> None:
        report.results.append(result)
        if progress:
            progress(result)

    # one model, put back to its initial state for each check that asks for a fresh
    # one: one build and one traced train step instead of one per check.
    # reproducibility alone builds twice: two builds must agree.
    again = C.reusable(build)
    try:
        report.plan = plan or plan_steps(again, train, batch_size, budget)
    except Exception as err:  # noqa: BLE001 - the checks say it again, one by one
        report.plan = {"batch_size": batch_size, "steps": dict(STEPS), "note": "",
                       "error": f"{type(err).__name__}: {err}"}  # fmt: skip
    batch, steps = report.plan["batch_size"], report.plan["steps"]
    held: list[C.CheckResult] = []

    def loss_at_init():
        model = again()
        if set_output_bias:
            init_output_bias(model, y)
        return I.loss_at_init(model, train)

    measured: dict = {}

    def layers() -> dict:  # one model trained a few steps serves both per-layer checks
        if not measured:
            measured.update(L.measure(again, train, batch_size=batch, steps=steps["layers"]))
        return measured

    def baseline():
        if len(xv) < (MIN_VALIDATION if not own_holdout else 1):
            rows = len(x) + len(xv)
            where = ("no validation data was given, and" if own_holdout else
                     f"the validation data has {len(xv)} rows;")  # fmt: skip
            return C.CheckResult(
                "input_independent_baseline", True, None, None,
                f"not judged: {where} {rows} rows are too few to hold out enough to tell a "
                "model that uses its input from one that does not", status="warn",
            )  # fmt: skip
        return B.input_independent_baseline(
            again, train, val, batch_size=batch, steps=steps["input_independent_baseline"],
            program_steps=total_steps,
        )

    def inference_mode():
        done = next((r for r in report.results if r.name == "loss_decreasing"), None)
        if done is None or done.status == "error":
            raise RuntimeError("it reads loss_decreasing's measurement, which did not run")
        return T.inference_mode(again(), done.details,
                                total_steps=total_steps if steps_known else None)

    run = {
        "input_scale": lambda: S.input_scale(again(), train),
        "labels": lambda: S.labels(again(), train, None if own_holdout else val),
        "output_and_loss": lambda: S.output_and_loss(again(), train),
        "regularization": lambda: R.regularization(again(), train),
        "validation_data": lambda: V.validation_data(train, None if own_holdout else val),
        "frozen_inputs": lambda: P.frozen_inputs(again(), train),
        "sequence_leak": lambda: Q.sequence_leak(again(), train),
        "reproducibility": lambda: T.reproducibility(build, train, batch_size=batch),
        "loss_at_init": loss_at_init,
        "overfit_one_batch": lambda: T.overfit_one_batch(
            again, train, max_steps=steps["overfit_one_batch"]
        ),
        "batch_independence": lambda: N.batch_independence(again(), train),
        "loss_decreasing": lambda: T.loss_decreasing(
            again, train, total_steps=total_steps, batch_size=batch,
            steps=steps["loss_decreasing"],
        ),  # fmt: skip
        "input_independent_baseline": baseline,
        "inference_mode": inference_mode,
        "gradient_health": lambda: L.gradient_health(again, train, measured=layers()),
        "dead_units": lambda: L.dead_units(again, train, measured=layers()),
    }
    for name in checks:
        start = time.perf_counter()
        if name in (cannot or {}):
            add(C.CheckResult(name, True, None, None, cannot[name], status="error"))
            continue
        try:
            result = run[name]()
        except Exception as err:  # noqa: BLE001 - a check's own error is its result
            result = could_not_run(name, err)
        result.seconds = round(time.perf_counter() - start, 2)  # building the model too
        if result.status == "fail" and (
            (name == "input_scale" and result.measured)  # judged once the trainings ran
            or (name == "loss_decreasing" and "input_independent_baseline" in checks)
        ):  # (a slow start, if the baseline's longer training learns)
            held.append(result)
            report.results.append(result)
            continue
        add(result)
    T.slow_start(report.results, total_steps if steps_known else None,
                 steps["input_independent_baseline"])
    for result in held:
        if result.name == "input_scale":
            trial = None
            if not any(r.name in C.HARM and r.status == "fail" for r in report.results):
                try:  # no training failed: does standardizing the inputs show the harm?
                    trial = B.standardized_trial(again, train, val, batch_size=batch,
                                                 steps=steps["input_independent_baseline"])
                except Exception:  # noqa: BLE001 - then the trainings alone decide
                    trial = None
            B.scale_needs_harm(result, report.results, trial, total_steps,
                               steps["input_independent_baseline"])
        if progress:
            progress(result)
    report.diagnose()
    if fix_trials and report.roots:

        def rerun(fixed_build, fixed_train, fixed_val, names):
            return run_checks(
                fixed_build, fixed_train, fixed_val, total_steps=total_steps, checks=names,
                batch_size=batch_size, set_output_bias=set_output_bias, plan=report.plan,
                fix_trials=False, own_holdout=own_holdout, steps_known=steps_known,
            )  # fmt: skip

        def allowed(seconds: float) -> bool:
            spent = time.perf_counter() - started
            return budget is None or spent + seconds <= 1.5 * budget

        TR.run_trials(report.diagnose, report.results, build, train, val, rerun,
                      model=again(), allowed=allowed, order=ALL_CHECKS)
    return report
