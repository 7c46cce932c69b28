"""Settings chosen from the data and the time the user allows.

The recipe's defaults (``zoo.config``: Adam at 3e-4, batch 32, a constant rate, no
augmentation, up to 100 epochs) suit the bundled digits. A folder of tens of thousands
of images needs others, and a user with ten minutes needs the epochs to fit them.
``choose`` picks, for image data, the settings the user did not give, and says why;
``measure_step`` times the training step on the real pipeline, ``plan_epochs`` sizes
the epochs to the time left (``zoo.callbacks.TimeBudget`` sizes them again as they
run); ``zoo.config.parse_duration`` reads ``--time-budget``. ``plan_run`` is the one call a run
makes (``zoo.run.plan``): every choice, in order, once, each with its reason.

The rules, and the measurements behind them (``docs/benchmarks.md``, image folder):

- batch 128 from 10,000 training images up: on CPU a batch of 128 runs more images per
  second than 32, and a short run needs fewer, larger steps;
- with a time budget, Adam at 2e-3 with a warm-up and cosine decay to zero at the last
  planned epoch (a rate that has reached zero when time is up, instead of an early
  stop at a still-high rate);
- bfloat16 mixed precision where the hardware has bfloat16 matrix units (AMX on Intel
  CPUs; GPUs): 1.4x the images per second of float32 for ``convnet`` here;
- augmentation (random translation: right for every image set, unlike flips, which
  break digits and text) once the plan has 8 epochs or more: on Fashion-MNIST the
  convnet fits the 48,000 training images past 99% in 12 epochs and the test accuracy
  stalls at 92.7%; with shifted copies, 93.1% in 13 (dropout 0.3 instead: 93.0%; both:
  92.8%, too much for so few epochs);
- ``convnet`` up to 64 pixels a side, ``resnet18`` at half width above; half width
  for a convnet too when the time left holds fewer than 5 epochs at full width.

A setting the user gave is never changed.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import keras
import numpy as np

from zoo.config import TrainConfig, validate
from zoo.distribute import local_devices

#: From this many training images a folder gets the large-data settings.
LARGE = 10_000
#: The settings ``choose`` may pick.
CHOOSABLE = (
    "model",
    "model_kwargs",
    "batch_size",
    "learning_rate",
    "schedule",
    "precision",
    "augment",
    "epochs",
)
#: Epochs from which augmentation pays (fewer: the model has not fit the data yet).
AUGMENT_FROM_EPOCHS = 8
#: A training step with random translation in the pipeline, against one without
#: (Fashion-MNIST, convnet, 2 cores: about 1.1x); the epochs then measure it.
AUGMENT_STEP_COST = 1.1


@dataclass
class Choice:
    setting: str
    value: object
    why: str

    def line(self) -> str:
        return f"{self.setting} {_show(self.value)}: {self.why}"


def _show(value) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    return f"{value:g}" if isinstance(value, float) else str(value)


def bfloat16_units() -> str | None:
    """What runs bfloat16 matrix products fast here (``"GPU"``, ``"AMX"``), or None."""
    if any(d.startswith(("gpu", "cuda")) for d in local_devices()):
        return "GPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return "AMX" if "amx_bf16" in line.split() else None
    except OSError:
        pass
    return None


def choose(
    config: TrainConfig, info, keep: set[str] | frozenset[str] = frozenset()
) -> tuple[TrainConfig, list[Choice]]:
    """``config`` with the settings in ``CHOOSABLE`` and not in ``keep`` chosen for
    the data ``info`` describes (``zoo.data.DataInfo``), and the reasons. Only image
    data is changed; a small image set keeps the recipe's defaults."""
    if len(info.input_shape) != 3:
        return config, []
    chosen: list[Choice] = []

    def pick(setting: str, value, why: str) -> None:
        nonlocal config
        if setting in keep or getattr(config, setting) == value:
            return
        config = replace(config, **{setting: value})
        chosen.append(Choice(setting, value, why))

    height, width, _ = info.input_shape
    n = info.num_examples["train"]
    side = max(height, width)
    budget = config.time_budget
    if n < LARGE and not budget and side <= 64:
        return validate(config), []  # the recipe's defaults (convnet, filled in by load_for)
    if side <= 64:
        pick("model", "convnet", f"{height}x{width} images: small conv-BN-ReLU stages")
    else:
        pick("model", "resnet18", f"{height}x{width} images: a strided stem and residual stages")
        if config.model == "resnet18":
            pick("model_kwargs", {"width_multiplier": 0.5}, "half width, for a CPU")
    if n >= LARGE:
        pick("batch_size", 128, f"{n:,} training images: larger steps, more images/s on CPU")
    if budget:
        pick("schedule", "cosine", "a time budget: decay to zero at the last planned epoch")
        if config.schedule == "cosine" and config.optimizer in ("adam", "adamw"):
            pick("learning_rate", 2e-3, "the peak of the cosine schedule (Adam)")
    units = bfloat16_units()
    if units and (n >= LARGE or budget):
        pick("precision", "mixed_bfloat16", f"this machine has bfloat16 units ({units})")
    return validate(config), chosen


def augment_for(config: TrainConfig, epochs: int, keep) -> tuple[TrainConfig, list[Choice]]:
    """Random translation once ``epochs`` are enough for it to pay (image data, the
    user gave none)."""
    if "augment" in keep or config.augment or epochs < AUGMENT_FROM_EPOCHS:
        return config, []
    why = f"{epochs} epochs planned: enough to profit from shifted copies"
    return replace(config, augment="translate"), [Choice("augment", "translate", why)]


#: Fewer epochs than this at full width in the time left: a half-width model instead.
MIN_EPOCHS = 5
#: Models with a ``width_multiplier`` argument.
WIDENABLE = ("convnet", "cifar_resnet20", "cifar_resnet32", "cifar_resnet44", "cifar_resnet56")


def narrower_for(
    config: TrainConfig, step: float, info, seconds_left: float, keep
) -> tuple[TrainConfig, list[Choice]]:
    """Half width when the time left holds fewer than ``MIN_EPOCHS`` epochs at full
    width (a model that sees the data a few times underfits whatever its size; a
    narrower one sees it several times more), for a model with a width and none given."""
    if "model_kwargs" in keep or config.model not in WIDENABLE or config.model_kwargs:
        return config, []
    epochs = seconds_left / epoch_seconds(step, info, config.batch_size)
    if epochs >= MIN_EPOCHS:
        return config, []
    why = (
        f"about {epochs:.1f} epochs would fit the time left at full width, fewer than "
        f"{MIN_EPOCHS}: half the channels, several times the epochs"
    )
    kwargs = {"width_multiplier": 0.5}
    return replace(config, model_kwargs=kwargs), [Choice("model_kwargs", kwargs, why)]


@dataclass
class Plan:
    """The training run sized to the time left."""

    epochs: int
    epoch_seconds: float  # estimated, validation included
    step_seconds: float  # measured
    train_seconds: float  # the time allowed for training
    most: int | None = None  # the most epochs training may grow to as it is measured

    def line(self) -> str:
        return (
            f"{self.epochs} epoch(s) of about {self.epoch_seconds:.0f}s (a training step "
            f"measured at {1000 * self.step_seconds:.0f} ms) fit the "
            f"{self.train_seconds:.0f}s left for training"
        )


def measure_step(build, loaded, config: TrainConfig, steps: int = 24) -> float:
    """Seconds per training step of a fresh model from ``build`` on batches of the real
    training pipeline (augmentation included), after a warm-up of as many steps (the
    tracing)."""
    keras.utils.set_random_seed(config.seed)
    model = build()
    batches = [(np.asarray(x), np.asarray(y)) for x, y in loaded.train.repeat().take(2 * steps)]

    def run(part):
        x = np.concatenate([b[0] for b in part])
        y = np.concatenate([b[1] for b in part])
        start = time.perf_counter()
        model.fit(x, y, batch_size=len(part[0][0]), epochs=1, verbose=0, shuffle=False)
        return time.perf_counter() - start

    run(batches[:steps])
    return run(batches[steps:]) / steps


def epoch_seconds(step: float, info, batch_size: int) -> float:
    """An epoch's estimated seconds from the time of one training step: its training
    steps, a validation pass (a third of a step per batch) and a second of callbacks."""
    count = info.num_examples
    batches = math.ceil(count["train"] / batch_size)
    val_batches = math.ceil(count["val"] / batch_size)
    return batches * step + val_batches * step / 3 + 1.0


def plan_epochs(
    step: float, info, batch_size: int, seconds_left: float, *, most: int | None = None
) -> Plan:
    """The epochs that fit ``seconds_left`` with a training step of ``step`` seconds;
    at least one, at most ``most``."""
    epoch = epoch_seconds(step, info, batch_size)
    epochs = max(1, int(seconds_left // epoch))
    if most:
        epochs = min(epochs, most)
    return Plan(epochs, epoch, step, seconds_left, most)


@dataclass
class Planned:
    """What ``plan_run`` decided: the settings to train with, each choice with its
    reason (``chosen``), the lines to tell the user, and for a measured run the
    training step, the ``Plan`` (with a time budget) and the deadline for training (a
    ``time.perf_counter()`` value)."""

    config: TrainConfig
    chosen: list[Choice] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    step_seconds: float | None = None
    plan: Plan | None = None
    deadline: float | None = None

    @property
    def epochs_set_by(self) -> str | None:
        """What fixed the number of epochs, for the advice after training."""
        return "the time budget (--time-budget)" if self.config.time_budget else None

    def record(self) -> dict:
        """What ``metrics.json`` keeps of the plan (empty when nothing was measured)."""
        if self.step_seconds is None:
            return {}
        step = self.plan.step_seconds if self.plan else self.step_seconds
        return {
            "step_seconds": round(step, 4),
            "epochs": self.config.epochs,
            "time_budget": self.config.time_budget,
        }


def needs_measuring(config: TrainConfig, info) -> bool:
    """Whether a run is long enough to measure and plan: a time budget, or ``LARGE``
    training examples or more (the bundled sets are not)."""
    return bool(config.time_budget) or info.num_examples["train"] >= LARGE


def kept(keep) -> set[str]:
    """The settings left as given: ``keep``, or all of them when it is None (the
    Python API without choosing)."""
    return set(CHOOSABLE) if keep is None else set(keep)


def plan_run(
    config: TrainConfig,
    info,
    *,
    keep=None,
    measure: Callable[[TrainConfig], float] | None = None,
    started: float | None = None,
    formats=(),
    before: Callable[[TrainConfig, float], float] | None = None,
) -> Planned:
    """Every choice of a run, once, early, each with its reason:

    1. the settings the data calls for (``choose``; only those not in ``keep``);
    2. for a long run (``needs_measuring``), a training step timed by ``measure(config)``
       and, with ``config.time_budget`` (seconds counted from ``started``), half width
       when too few epochs fit (``narrower_for``; the step timed again), the epochs
       that fit before evaluation and export (``plan_epochs``) and augmentation when
       they are many (``augment_for``). ``before(config, step)``: seconds still to spend
       before training (the recipe's checks).

    Without a budget the epochs stay the user's; a long run says what they cost."""
    keep = kept(keep)
    config, chosen = choose(config, info, keep)
    lines = [f"chosen from the data: {c.line()}" for c in chosen]
    planned = Planned(config, chosen, lines)
    if measure is None or not needs_measuring(config, info):
        return planned
    started = time.perf_counter() if started is None else started
    step = measure(config)
    budget = config.time_budget

    def left_for_training(step: float) -> float:
        after = after_training_seconds(step, info, config.batch_size, formats)
        ahead = before(config, step) if before else 0.0
        return started + budget - time.perf_counter() - after - ahead

    if budget:
        config, narrower = narrower_for(config, step, info, left_for_training(step), keep)
        if narrower:
            lines.append(f"chosen from the time left: {narrower[0].line()}")
            chosen.extend(narrower)
            step = measure(config)
    planned.config, planned.step_seconds = config, step
    if not budget:
        epoch = epoch_seconds(step, info, config.batch_size)
        lines.append(
            f"up to {config.epochs} epochs of about {epoch:.0f}s: at most "
            f"{duration(config.epochs * epoch)}; early stopping usually ends sooner "
            "(--time-budget bounds the whole run)"
        )
        return planned
    after = after_training_seconds(step, info, config.batch_size, formats)
    end = started + budget - after
    most = config.epochs  # the user's --epochs, else the default: the most to grow to
    seconds = left_for_training(step)
    plan = plan_epochs(step, info, config.batch_size, seconds, most=most)
    config, augment = augment_for(config, plan.epochs, keep)
    if augment:  # shifted copies cost pipeline time: estimated here, measured per epoch
        step *= AUGMENT_STEP_COST
        plan = plan_epochs(step, info, config.batch_size, left_for_training(step), most=most)
        lines.append(f"chosen from the plan: {augment[0].line()}")
        chosen.extend(augment)
    lines.append(
        f"time budget {duration(budget)}: {plan.line()}; evaluation and export take "
        f"about {duration(after)} after it"
    )
    # the deadline leaves the checks their time; TimeBudget re-sizes the epochs to it
    planned.config = replace(config, epochs=plan.epochs)
    planned.plan, planned.deadline = plan, end
    return planned


def duration(seconds: float) -> str:
    """``95`` -> ``"1 min 35 s"``; under a minute in seconds."""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours} h {minutes} min" if hours else f"{minutes} min {secs} s"


def checks_seconds(step: float, batch_size: int, check_batch: int) -> float:
    """About how long the sanity checks take: some 1,100 training steps of
    ``check_batch`` examples, from a step of ``batch_size`` taking ``step`` seconds
    (a smaller batch runs fewer examples per second: counted at 1.5x), and the
    builds."""
    return 1100 * step * min(1.0, 1.5 * check_batch / batch_size) + 10.0


def after_training_seconds(step: float, info, batch_size: int, formats=()) -> float:
    """About how long evaluation and export take after training: predictions over
    every split twice (evaluation, the dumb baseline; a third of a training step per
    batch), a SavedModel written and reloaded in a fresh process, and the ONNX and
    TFLite files with their own checks. (Fashion-MNIST, 60,000 images, int8 too:
    estimated 46 s, measured 40 s.)"""
    examples = sum(info.num_examples.values())
    predict = 2 * examples / batch_size * step / 3
    extra = {"onnx": 10.0, "tflite": 8.0, "tflite_int8": 12.0}
    return 15.0 + predict + sum(extra.get(f, 0.0) for f in formats)
