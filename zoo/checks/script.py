"""``zoo check SCRIPT [ARGS...]``: the recipe's checks on a training script as it is.

The script runs in this process with its own arguments; its first ``model.fit`` is
intercepted and the model, data, loss, optimizer, batch size, epochs and validation
data it was given are checked (``zoo.check``) before any training. By default the
script then stops; with ``train=True`` its training goes on, watched by
``TrainingMonitor`` (a NaN loss stops it; no progress, overfitting and "train longer"
are read from its epochs), whose verdicts join the report. Later ``fit`` calls run
as written (only the first is checked, and the report says so). A generator given to
``fit`` is read for its first batches, which are then handed back to the script ahead
of the rest.
"""

from __future__ import annotations

import inspect
import itertools
import runpy
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import keras

from zoo import interrupts
from zoo.checks import diagnosis
from zoo.checks.base import CheckResult, error_line
from zoo.checks.keras_private import data_adapter, fit_validation_split
from zoo.checks.locate import recording
from zoo.checks.monitor import TrainingMonitor
from zoo.checks.program import check, first_step, training_data
from zoo.checks.runner import ALL_CHECKS, ChecksReport
from zoo.config import script_problem
from zoo.data import as_arrays
from zoo.outputs import resolve_loss
from zoo.plots import activation_histograms, check_curves, dependence_chart, layer_figures
from zoo.runfolder import write_json, write_text

# what can be read without training: run when the program's own first step fails
SETUP_CHECKS = ("input_scale", "labels", "output_and_loss")


class _StopScript(BaseException):
    """Raised from the intercepted fit to end the script after the checks (a
    BaseException, so the script's own ``except Exception`` does not swallow it)."""


@dataclass
class ScriptCheck:
    """What ``check_script`` found: ``code`` is the exit status (0: no check failed,
    1: a check failed, 2: could not check), ``report`` the checks (None when no fit was
    reached), ``fits`` the number of ``fit`` calls the script made."""

    script: str
    code: int
    report: ChecksReport | None = None
    fits: int = 0
    problem: str = ""
    seconds: float = 0.0
    settings: dict = field(default_factory=dict)
    figures: list[str] = field(default_factory=list)

    def as_json(self) -> dict:
        results = self.report.results if self.report else []
        return {
            "script": self.script,
            "passed": self.code == 0,
            "exit_code": self.code,
            "problem": self.problem,
            "settings": self.settings,
            "fit_calls": self.fits,
            "summary": self.report.summary() if self.report else "",
            "checks_seconds": self.seconds,
            "plan": {k: v for k, v in (self.report.plan if self.report else {}).items()},
            "figures": self.figures,
            "diagnosis": [_root_record(r, results) for r in (self.report.roots if self.report
                                                              else [])],
            "results": [{k: v for k, v in r.as_record().items() if k != "passed"} for r in results],
        }

    def markdown(self) -> str:
        lines = [f"# zoo check {self.script}", ""]
        if self.problem:
            lines += [f"**Could not check**: {self.problem}", ""]
        if self.settings:
            settings = ", ".join(f"{k} {v}" for k, v in self.settings.items())
            lines += [f"Checked with the script's own settings: {settings}.", ""]
        if self.report:
            lines.append(self.report.markdown())
        for name in self.figures:
            lines += [f"![{name}]({name})", ""]
        if self.fits > 1:
            lines.append(f"The script calls fit {self.fits} times; the first was checked.")
        return "\n".join(lines) + "\n"


def _root_record(root: CheckResult, results: list[CheckResult]) -> dict:
    """A root cause in check.json: its check, status, line, evidence and fix (the
    message), its fix trial and its consequences."""
    trial = dict(root.details.get("trial") or {})
    return {
        "check": root.name,
        "status": root.status,
        "location": root.location,
        "message": root.message,
        "fix": root.fix,
        "trial": trial or None,
        "together": root.details.get("together"),
        "consequences": [r.name for r in results if r.caused_by == root.name],
    }


def _handed_back(taken: list, rest):
    """The batches read for the checks, then the rest: a generator again, which is
    what ``fit`` takes."""
    yield from taken
    yield from rest


def _loss_words(model) -> str:
    """The compiled loss as a person names it: ``categorical_crossentropy
    (from_logits)``, not its wrapper's repr."""
    if model.loss is None:
        return "none compiled"
    try:
        info = resolve_loss(model)
    except Exception:  # noqa: BLE001 - several losses, or one zoo cannot read
        return type(model.loss).__name__
    return info.name + (" (from_logits)" if info.from_logits else "")


def _bind_fit(fit, model, args, kwargs) -> dict:
    """``fit``'s arguments by name, defaults filled in."""
    signature = inspect.signature(fit)
    bound = signature.bind(model, *args, **kwargs)
    bound.apply_defaults()
    return dict(bound.arguments)


def _code(report: ChecksReport) -> int:
    """1 when a check failed; 2 when no check could run; else 0."""
    if report.failed:
        return 1
    return 2 if report.results and len(report.errored) == len(report.results) else 0


def validate_fit(model, given: dict) -> None:
    """Raise the error Keras' own ``fit`` raises for these arguments, before any
    check runs: its ``validation_split`` split and its data adapter read the data as
    ``fit`` would (a ``validation_split`` on a dataset, ``y`` beside a dataset, arrays of
    different lengths)."""
    x, y, weights = given.get("x"), given.get("y"), given.get("sample_weight")
    split = given.get("validation_split") or 0.0
    if split and given.get("validation_data") is None:
        (x, y, weights), _ = fit_validation_split((x, y, weights), split)
    data_adapter(x, y, weights, given.get("batch_size"), given.get("steps_per_epoch"),
                 given.get("class_weight"))  # fmt: skip


def check_script(
    path: str | Path,
    args: list[str] | None = None,
    *,
    train: bool = False,
    say=print,
    budget: float | None = 60.0,
    on_checked=None,
    fix_trials: bool = True,
    seed: int | None = 1,
) -> ScriptCheck:
    """Run the script at ``path`` with ``args`` as ``python path args`` would (its
    folder first on ``sys.path``, ``__file__``, ``sys.argv``, ``__name__ ==
    "__main__"``, the working directory as it is), check its first ``fit`` within
    ``budget`` seconds and return what was found (see ``ScriptCheck``).
    ``on_checked(found)`` is called as soon as the checks end (before ``--train``
    training), to write the report. ``code``: the script's own status where it failed
    (1 for an uncaught exception, as python; its ``sys.exit`` status), else 1 when a
    check failed, 2 when nothing could be checked, 130 when Ctrl-C stopped it (the
    checks that finished are kept). Every finding names the line of the script that
    made its cause (``locate``); ``fix_trials``: see ``zoo.check``. ``seed``: the
    random seed set before the script runs (``keras.utils.set_random_seed``: Python,
    NumPy and the backend), so that an unseeded script gets the same initial weights,
    and the same verdicts, at every check; a seed the script sets itself still wins.
    None leaves the generators as python would."""
    path = Path(path)
    problem = script_problem(path)
    if problem:
        return ScriptCheck(str(path), 2, problem=problem)
    found = ScriptCheck(str(path), 2)
    original_fit = keras.Model.fit
    finished: list = []  # the checks' results as they come: kept if Ctrl-C stops them

    def progress(result) -> None:
        finished.append(result)
        say(f"  {result.line()} ({result.seconds:.1f}s)")
        interrupts.check(" during the checks")  # a safe point between checks

    def fit(model, *fit_args, **fit_kwargs):
        found.fits += 1
        if found.fits > 1:
            return original_fit(model, *fit_args, **fit_kwargs)
        interrupts.state.in_fit = True  # from here a signal waits for a safe point
        given = _bind_fit(original_fit, model, fit_args, fit_kwargs)
        sites.saw_fit(sys._getframe(1), given)
        try:
            validate_fit(model, given)
        except interrupts.Interrupted:
            raise
        except Exception as err:  # noqa: BLE001 - Keras' own words: it cannot train as written
            found.problem = f"Keras refuses this fit call: {error_line(err)}"
            raise _StopScript from None
        step_error = None
        try:  # the program's own first step, on a copy: does its training start at all?
            first_step(model, given.get("x"), given.get("y"),
                       None if given.get("class_weight") else given.get("sample_weight"),
                       given.get("batch_size"))  # fmt: skip
        except interrupts.Interrupted:
            raise
        except Exception as err:  # noqa: BLE001 - Keras' own error: the harm itself
            step_error = error_line(err)
        x, y = given.get("x"), given.get("y")
        batch = given.get("batch_size")
        if hasattr(x, "__next__") and not isinstance(x, keras.utils.PyDataset):
            taken = list(itertools.islice(x, 64))  # the first batches; handed back below
            given["x"] = _handed_back(taken, given["x"])
            x, y = as_arrays(iter(taken))
            batch = len(taken[0][0]) if taken else None  # the generator's own batch size
        rate = float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))
        found.settings = {
            "model": f"{type(model).__name__} {model.name!r}",
            "loss": _loss_words(model),
            "optimizer": type(model.optimizer).__name__,
            "learning_rate": f"{rate:g}",
            "batch_size": batch or 32,
            "epochs": given.get("epochs"),
            **({"seed": seed} if seed is not None else {}),
        }
        say(
            f"zoo check: checking the first fit of {path.name}: "
            + ", ".join(f"{k} {v}" for k, v in found.settings.items())
        )
        start = time.perf_counter()
        try:
            report = check(
                model,
                x,
                y,
                validation_data=given.get("validation_data"),
                validation_split=given.get("validation_split") or 0.0,
                batch_size=batch,
                epochs=given.get("epochs"),
                sample_weight=given.get("sample_weight"),
                class_weight=given.get("class_weight"),
                progress=progress,
                budget=budget,
                checks=SETUP_CHECKS if step_error else ALL_CHECKS,
                fix_trials=fix_trials,
            )
            if step_error:  # the trainings would fail as the program does: said once
                failed = CheckResult(
                    "first_step", False, step_error, "a training step",
                    "the program's own first training step fails, so it cannot train as "
                    f"written: {step_error}" + ("; the checks above say why" if any(
                        r.status == "fail" for r in report.results) else ""),
                )  # fmt: skip
                report.results.append(failed)
                progress(failed)
                report.diagnose()
            diagnosis.locate(report.results, sites, model)
        except interrupts.Interrupted:
            raise
        except Exception as err:  # noqa: BLE001 - zoo could not read this fit
            found.problem = f"could not check this fit: {type(err).__name__}: {err}"
            raise _StopScript from None
        found.report = report
        found.code = _code(report)
        found.seconds = round(time.perf_counter() - start, 1)
        if report.plan.get("note"):
            say(f"zoo check: {report.plan['note']}")
        for text in report.diagnosis():
            say(f"zoo check: {text}" if not text.startswith(" ") else text)
        say(f"zoo check: {report.summary()}, in {found.seconds:.1f}s")
        if on_checked is not None:
            on_checked(found)
        if not train:
            raise _StopScript
        given.pop("self", None)
        try:
            probe = training_data(x, y, limit=64)[0]
        except ValueError:  # a generator: the monitor then reads the weights only
            probe = None
        watch = TrainingMonitor(probe, say=lambda r: say(f"  {r.line()}"))
        given["callbacks"] = [*(given.get("callbacks") or []), watch, _SafePoints()]
        try:
            return original_fit(model, **given)
        finally:
            report.results.extend(watch.results)
            found.code = _code(report)

    argv, path0 = sys.argv, list(sys.path)
    sys.argv = [str(path), *(args or [])]
    sys.path.insert(0, str(path.resolve().parent))  # as `python script.py` does
    keras.Model.fit = fit
    watching = recording(path.resolve().parent)
    sites = watching.__enter__()
    try:
        if seed is not None:
            keras.utils.set_random_seed(seed)
        runpy.run_path(str(path), run_name="__main__")
    except _StopScript:
        pass
    except interrupts.Interrupted as err:
        found.code = err.code
        if found.report is None and finished:
            found.report = ChecksReport(results=list(finished))
        ran = len(found.report.results) if found.report else 0
        found.problem = f"{err} after {ran} check(s) had finished."
    except SystemExit as err:
        status = err.code if isinstance(err.code, int) else (0 if err.code is None else 1)
        if status:
            found.code = status
            found.problem = f"the script exited with status {status}" + (
                " before calling fit." if found.report is None else " after the checks."
            )
    except Exception:  # noqa: BLE001 - the script's own error, shown as its traceback
        tb = traceback.format_exc()
        found.problem = "the script raised an error" + (
            " before calling fit" if found.report is None else " after the checks"
        )
        say(tb.rstrip())
        found.code = 1  # as python exits on an uncaught exception
    finally:
        watching.__exit__(None, None, None)
        keras.Model.fit = original_fit
        sys.argv, sys.path[:] = argv, path0
        interrupts.state.in_fit = False
    if found.report is None and not found.problem:
        found.problem = "the script ended without calling model.fit; nothing to check."
    return found


class _SafePoints(keras.callbacks.Callback):
    """Ctrl-C during the script's own training (``--train``) stops it at the next batch
    end, where the report can still be written."""

    def on_train_batch_end(self, batch, logs=None):
        interrupts.check(" during the script's training")


def write_check(found: ScriptCheck, out_dir: str | Path) -> Path:
    """``check.json``, ``check.md`` and the figures (``check_curves.png``: the loss
    curves of overfitting one batch and of the first steps; ``check_layers.png``: the
    per-layer figures; ``check_activations.png``: each hidden layer's activations) in
    ``out_dir``."""
    out = Path(out_dir)
    figures = []
    if found.report:
        figures = [check_curves(found.report.results, out / "check_curves.png")]
        figures.append(layer_figures(found.report.results, out / "check_layers.png"))
        figures.append(activation_histograms(found.report.results, out / "check_activations.png"))
        figures.append(dependence_chart(found.report.results, out / "check_dependence.png"))
    found.figures = [p.name for p in figures if p is not None]
    write_json(out / "check.json", found.as_json())
    write_text(out / "check.md", found.markdown())
    return out
