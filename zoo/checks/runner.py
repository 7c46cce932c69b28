"""``run_checks``: the recipe's sanity checks in order, on a model that ``build``
makes fresh each time."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from zoo.checks import layers as L
from zoo.checks import sanity as C
from zoo.checks import setup as S
from zoo.data import as_arrays
from zoo.outputs import init_output_bias


@dataclass
class ChecksReport:
    results: list[C.CheckResult] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results)

    @property
    def failed(self) -> list[C.CheckResult]:
        return [r for r in self.results if r.status == "fail"]

    @property
    def warned(self) -> list[C.CheckResult]:
        return [r for r in self.results if r.status == "warn"]

    def __getitem__(self, name: str) -> C.CheckResult:
        for r in self.results:
            if r.name == name:
                return r
        raise KeyError(name)

    def markdown(self) -> str:
        rows = ["| check | result | measured | expected | seconds |", "|---|---|---|---|---|"]
        for r in self.results:
            rows.append(
                f"| {r.name} | {_MARKS[r.status]} | {_fmt(r.measured)} | "
                f"{_fmt(r.expected)} | {r.seconds:.1f} |"
            )
        notes = [f"- **{r.name}**: {r.message}" for r in self.results]
        return "\n".join(rows) + "\n\n" + "\n".join(notes) + "\n"


_MARKS = {"pass": "pass", "warn": "*warn*", "fail": "**FAIL**"}


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


ALL_CHECKS = (
    "input_scale",
    "labels",
    "output_and_loss",
    "reproducibility",
    "loss_at_init",
    "overfit_one_batch",
    "batch_independence",
    "loss_decreasing",
    "input_independent_baseline",
    "gradient_health",
    "dead_units",
)


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
) -> ChecksReport:
    """Run the sanity checks on models from ``build`` (a zero-argument callable that
    returns a fresh compiled model) with ``train`` (and ``val``) as ``tf.data`` batches
    or ``(x, y)`` arrays of model inputs. ``total_steps`` is the planned length of
    training, for the learning-rate schedule check. ``progress`` is called with each
    result as it comes. Without ``val``, a fifth of ``train`` is held out for the
    input-independent baseline. ``set_output_bias`` sets the output bias from the labels
    before the loss-at-init check (the recipe's "init well"); False checks the model as
    built. A check that raises is reported as a warning with its error, and the others
    still run."""
    unknown = set(checks) - set(ALL_CHECKS)
    if unknown:
        raise ValueError(f"Unknown check(s) {sorted(unknown)}; choose from {ALL_CHECKS}.")
    x, y = as_arrays(train)
    if val is None:
        cut = max(1, len(x) // 5)
        (x, y), val = (x[cut:], y[cut:]), (x[:cut], y[:cut])
    train = (x, y)
    report = ChecksReport()

    def add(result: C.CheckResult) -> None:
        report.results.append(result)
        if progress:
            progress(result)

    # one model, put back to its initial state for each check that asks for a fresh
    # one: one build and one traced train step instead of one per check.
    # reproducibility alone builds twice: two builds must agree.
    again = C.reusable(build)

    def loss_at_init():
        model = again()
        if set_output_bias:
            init_output_bias(model, y)
        return C.loss_at_init(model, train)

    measured: dict = {}

    def layers() -> dict:  # one model trained a few steps serves both per-layer checks
        if not measured:
            measured.update(L.measure(again, train, batch_size=batch_size))
        return measured

    run = {
        "input_scale": lambda: S.input_scale(again(), train),
        "labels": lambda: S.labels(again(), train, val),
        "output_and_loss": lambda: S.output_and_loss(again(), train),
        "reproducibility": lambda: C.reproducibility(build, train, batch_size=batch_size),
        "loss_at_init": loss_at_init,
        "overfit_one_batch": lambda: C.overfit_one_batch(again, train),
        "batch_independence": lambda: C.batch_independence(again(), train),
        "loss_decreasing": lambda: C.loss_decreasing(
            again, train, total_steps=total_steps, batch_size=batch_size
        ),
        "input_independent_baseline": lambda: C.input_independent_baseline(
            again, train, val, batch_size=batch_size
        ),
        "gradient_health": lambda: L.gradient_health(again, train, measured=layers()),
        "dead_units": lambda: L.dead_units(again, train, measured=layers()),
    }
    for name in checks:
        start = time.perf_counter()
        try:
            result = run[name]()
        except Exception as err:  # noqa: BLE001 - a check's own error is its result
            result = C.CheckResult(
                name,
                True,
                None,
                None,
                f"could not run: {type(err).__name__}: {err}",
                seconds=round(time.perf_counter() - start, 2),
                status="warn",
                details={"error": f"{type(err).__name__}: {err}"},
            )
        result.seconds = round(time.perf_counter() - start, 2)  # building the model too
        add(result)
    return report


__all__ = ["ALL_CHECKS", "ChecksReport", "run_checks"]
