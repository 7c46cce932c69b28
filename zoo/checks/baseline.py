"""The baselines a model must beat: the same model trained on inputs that carry
nothing (``input_independent_baseline``, before training) and the majority class or
the mean (``dumb_baseline``, after training)."""

from __future__ import annotations

import math
from collections.abc import Callable

import keras
import numpy as np

from zoo.checks.base import (
    HARM,
    CheckResult,
    arrays,
    fit_steps,
    read_modes,
    register,
    standardized,
    start_from_labels,
    still_falling,
)
from zoo.data import as_arrays
from zoo.outputs import loss_kind, resolve_loss

FAMILY = "baseline"


def blank(x: np.ndarray) -> np.ndarray:
    """Inputs that carry nothing: zeros, or empty strings for text."""
    if x.dtype.kind in "OSU":
        return np.full(x.shape, "", dtype=object if x.dtype.kind == "O" else x.dtype)
    return np.zeros_like(x)


def _majority_or_mean(y_train, y_eval, kind: str) -> tuple[str, float]:
    if kind == "regression":
        mean = np.mean(y_train, axis=0)
        return "mse", float(np.mean((y_eval - mean) ** 2))
    labels = y_train.argmax(-1) if y_train.ndim > 1 else y_train
    evals = y_eval.argmax(-1) if y_eval.ndim > 1 else y_eval
    majority = np.bincount(labels.astype(int).reshape(-1)).argmax()
    return "accuracy", float(np.mean(evals.reshape(-1) == majority))


@register(FAMILY)
def dumb_baseline(model, train, evaluation) -> CheckResult:
    """The trained model must beat predicting the majority class (accuracy) or the
    training mean (MSE) on ``evaluation``."""
    x_train, y_train = as_arrays(train)
    x_eval, y_eval = as_arrays(evaluation)
    kind = loss_kind(model)
    metric, baseline = _majority_or_mean(y_train, y_eval, kind)
    pred = np.asarray(model.predict(x_eval, verbose=0))
    if kind == "regression":
        score = float(np.mean((y_eval.reshape(len(y_eval), -1) - pred) ** 2))
        passed = score < baseline
        what = "mean predictor"
    else:
        if kind == "binary":  # a logit above 0, or a probability above 0.5
            guess = (pred[:, 0] > (0.0 if resolve_loss(model).from_logits else 0.5)).astype(int)
        else:
            guess = pred.argmax(-1)
        labels = y_eval.argmax(-1) if y_eval.ndim > 1 else y_eval
        score = float(np.mean(guess == labels.reshape(-1)))
        passed = score > baseline
        what = "majority class"
    return CheckResult(
        "dumb_baseline",
        passed,
        score,
        baseline,
        f"{metric} {score:.4g} beats the {what} ({baseline:.4g})"
        if passed
        else f"{metric} {score:.4g} does not beat the {what} ({baseline:.4g}): the model "
        "learned nothing useful; go back to the checks above",
    )


@register(FAMILY)
def input_independent_baseline(
    build: Callable,
    train,
    val,
    *,
    steps: int = 300,
    batch_size: int = 32,
    margin: float = 0.1,
    little: float = 0.02,
    program_steps: int | None = None,
) -> CheckResult:
    """The same model trained on zeroed inputs must end clearly worse on validation
    (by ``margin``, relative) than when trained on the real inputs, with the program's
    sample or class weights, read in the mode that shows the model at its best (both
    are read: inference mode is how validation sees it, but moving statistics lag after
    a short training; the gap is ``inference_mode``'s finding). Within ``little`` of the
    zeroed-input loss (or above it) in both modes, the model does not use its input: a
    fail; in between it uses its input but learned little in ``steps`` steps: a
    warning. Before failing, a model whose loss had stopped falling is trained further
    (up to four times ``steps``, within half of ``program_steps``, the program's own
    training): a plateau it leaves is a slow start, a warning."""
    x, y, w = arrays(train)
    xv, yv, wv = arrays(val, limit=1024)  # read four times: a sample is enough
    scores: dict[str, dict[str, float]] = {}
    # zeros first: the model trained on the real inputs is the one left to train on
    scores["zeros"], _, _ = _trained(build, (blank(x), y, w), (blank(xv), yv, wv), steps,
                                     batch_size)  # fmt: skip
    scores["real"], halfway, model = _trained(build, (x, y, w), (xv, yv, wv), steps, batch_size)
    ratios = {m: scores["real"][m] / max(scores["zeros"][m], 1e-12) for m in scores["real"]}
    finite = {m: r for m, r in ratios.items() if math.isfinite(r)}
    mode = "inference"  # how validation reads it; training mode where clearly better
    if "training" in finite and finite["training"] < finite.get("inference", math.inf) - 0.02:
        mode = "training"
    real, zeros = scores["real"][mode], scores["zeros"][mode]
    where = f" (read in {mode} mode)" if mode == "training" else ""
    if real <= (1 - margin) * zeros:
        status = "pass"
        message = (
            f"validation loss {real:.4g} with real inputs against {zeros:.4g} with zeroed "
            f"inputs{where}"
        )
    elif real <= (1 - little) * zeros:
        status = "warn"
        message = (
            f"after {steps} steps the validation loss with real inputs ({real:.4g}) is only "
            f"{1 - real / zeros:.1%} below that with all inputs zeroed ({zeros:.4g}){where}: "
            "the model uses its input, but has learned little from it so far (a slow start: "
            "see loss_decreasing), or the inputs say little about the labels"
        )
    elif still_falling([halfway.get(mode, math.nan), real], 0.05):
        status = "warn"
        message = (
            f"after {steps} steps the validation loss with real inputs ({real:.4g}) is not "
            f"yet below that with all inputs zeroed ({zeros:.4g}){where}, but it was still "
            f"falling ({halfway[mode]:.4g} halfway): the model learns from its input, more "
            "slowly than a model of the output bias alone (which starts at its best); "
            "whether it overtakes it is for the program's own training to show"
        )
    else:
        status, trained, before = "fail", steps, real
        # a program that trains far longer than this may leave a plateau later: look
        # further, up to four times the steps, while it stays within a half of its own
        while program_steps and trained + steps <= min(4 * steps, program_steps // 2):
            fit_steps(model, x, y, steps, batch_size, seed=9 + trained, sample_weight=w)
            trained += steps
            now = read_modes(model, xv, yv, wv)[mode]
            learning = now <= (1 - little) * zeros or now < 0.98 * real
            real = now
            if learning:
                status = "warn"
                break
        if status == "warn":
            message = (
                f"after {steps} steps the validation loss with real inputs ({before:.4g}) was "
                f"not below that with all inputs zeroed ({zeros:.4g}){where}; after {trained} "
                f"it is {real:.4g} and falling: the model learns from its input, slowly (the "
                f"program trains {program_steps} steps)"
            )
        else:
            message = (
                f"validation loss with real inputs ({real:.4g}) is not below that with all "
                f"inputs zeroed ({zeros:.4g}) after {trained} steps, in training and inference "
                f"mode alike, and it had stopped falling ({halfway.get(mode, math.nan):.4g} "
                f"after {steps // 2}): the model does not use its input. Look for "
                "preprocessing that zeroes or constant-fills the inputs, labels shuffled "
                "against the inputs, or an input that is not connected"
            )
    return CheckResult(
        "input_independent_baseline",
        status != "fail",
        real,
        f"<= {(1 - margin) * zeros:.4g}",
        message,
        details={"real": scores["real"], "zeros": scores["zeros"], "mode": mode,
                 "halfway": halfway},
        status=status,
    )


def standardized_trial(
    build: Callable, train, val, *, steps: int = 300, batch_size: int = 32
) -> float:
    """The validation loss of the model trained ``steps`` steps on inputs standardized
    with the training rows' mean and spread per feature (as ``input_independent_baseline``
    trains, same seed): what the program would reach with its inputs scaled."""
    x, y, w = arrays(train)
    xv, yv, wv = arrays(val, limit=1024)
    xs, xvs = standardized(x, xv)
    return min(_trained(build, (xs, y, w), (xvs, yv, wv), steps, batch_size)[0].values())


def _trained(build: Callable, train: tuple, val: tuple, steps: int, batch_size: int):
    """A fresh model (seed 7, output bias from the labels) trained ``steps`` steps on
    ``train``: its validation losses in both modes at the end and halfway (is it still
    learning when the steps run out?), and the model, to train further."""
    (x, y, w), (xv, yv, wv) = train, val
    keras.utils.set_random_seed(7)
    model = build()
    start_from_labels(model, y)
    fit_steps(model, x, y, steps // 2, batch_size, seed=7, sample_weight=w)
    halfway = read_modes(model, xv, yv, wv)
    fit_steps(model, x, y, steps - steps // 2, batch_size, seed=8, sample_weight=w)
    return read_modes(model, xv, yv, wv), halfway, model


def scale_needs_harm(
    result: CheckResult, results: list[CheckResult], trial: float | None, total_steps: int | None,
    steps: int,
) -> None:
    """An input scale far from 1 fails only when the harm is measured: a short training
    fails (a check of ``base.HARM``), or the same model trained on standardized inputs
    (``trial``: its validation loss after the baseline's steps) learns at least three
    times as much against the zeroed-input model as the model as written, while the
    program's own training (``total_steps``) is under ten times that long, too short to
    make it up. Otherwise it is a warning: the program trains as written, slower than
    it would on standardized inputs."""
    harmed = [r.name for r in results if r.name in HARM and r.status == "fail"]
    ran = [r.name for r in results if r.name in HARM and r.status != "error"]
    if harmed or not ran:
        return
    base = next((r for r in results if r.name == "input_independent_baseline"), None)
    details = base.details if base is not None else {}
    if trial is not None and "real" in details and "zeros" in details:
        mode = details.get("mode", "inference")
        real, zeros = details["real"][mode], details["zeros"][mode]
        gained, could = zeros - real, zeros - trial
        short = total_steps is None or total_steps < 10 * steps
        result.details["standardized"] = {"validation_loss": trial, "as_written": real,
                                          "zeroed_inputs": zeros}  # fmt: skip
        if could > 0 and could >= 3 * max(gained, 0.0) and short:
            result.message += (
                f". Measured: after {steps} steps the validation loss is {real:.4g} as written "
                f"and {trial:.4g} with the inputs standardized (zeroed inputs: {zeros:.4g}); the "
                f"program's own {total_steps or 'few'} steps will not make that up"
            )
            return
    result.status, result.passed = "warn", True
    result.message += f" (the short trainings show no harm yet: {', '.join(ran)} did not fail"
    if "standardized" in result.details:
        seen = result.details["standardized"]
        result.message += (
            f"; validation loss {seen['as_written']:.4g} as written, {seen['validation_loss']:.4g}"
            f" with the inputs standardized, {seen['zeroed_inputs']:.4g} with them zeroed"
        )
    result.message += ")"
