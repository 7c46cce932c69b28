"""The learning-rate range test (Smith 2017; fastai's ``lr_find``): a fresh model
trained for a few hundred steps while the learning rate grows exponentially from tiny
to huge, the loss smoothed as it goes, stopped once it blows up. The loss falls
fastest a little below the rate where it is lowest; the suggestion is the rule fastai
calls ``lr_min``: the rate at the smoothed minimum, divided by ten.

``lr_find(build, batches)`` is the Python call; ``zoo lr-find DATA`` writes the plot
(``lr_find.png``) and the numbers (``lr_find.json``). ``zoo recipe`` keeps Adam at
3e-4 unless told otherwise: the suggestion is advice, not yet a default.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import keras
import numpy as np

#: The rule behind the suggestion, said beside it.
RULE = "the rate at the lowest smoothed loss, divided by 10 (fastai's lr_min)"


@dataclass
class RangeTest:
    """The sweep: each step's rate, raw and smoothed loss, and the suggestion."""

    rates: list[float] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    smoothed: list[float] = field(default_factory=list)
    suggestion: float | None = None
    steepest: float | None = None  # the rate where the smoothed loss falls fastest
    stopped: str = ""  # why the sweep ended

    def line(self) -> str:
        if self.suggestion is None:
            return f"no suggestion: {self.stopped}"
        return (
            f"suggested learning rate {self.suggestion:.2g} ({RULE}); the loss falls "
            f"fastest at {self.steepest:.2g}; {self.stopped}"
        )

    def record(self) -> dict:
        return {
            "suggestion": self.suggestion,
            "rule": RULE,
            "steepest": self.steepest,
            "stopped": self.stopped,
            "rates": self.rates,
            "losses": self.losses,
            "smoothed": self.smoothed,
        }


def lr_find(
    build,
    batches,
    *,
    start: float = 1e-7,
    end: float = 10.0,
    steps: int = 200,
    beta: float = 0.9,
    diverge: float = 4.0,
) -> RangeTest:
    """Sweep the learning rate of a fresh model from ``build()`` (compiled, with a
    constant rate) from ``start`` to ``end`` over ``steps`` training steps on
    ``batches`` (an iterable of ``(x, y)``, repeated as needed). The loss is smoothed
    with an exponential average (``beta``, bias-corrected); the sweep stops when the
    smoothed loss passes ``diverge`` times its minimum, or is not finite."""
    model = build()
    rate_variable = model.optimizer.learning_rate
    if not isinstance(rate_variable, keras.Variable):
        raise ValueError(
            "lr_find needs a model compiled with a constant learning rate (a float), "
            "not a schedule."
        )
    factor = (end / start) ** (1.0 / max(1, steps - 1))
    test = RangeTest()
    average, best = 0.0, math.inf
    data = iter(_repeat(batches))
    for step in range(steps):
        rate = start * factor**step
        rate_variable.assign(rate)
        x, y = next(data)
        loss = float(np.ravel(model.train_on_batch(x, y))[0])
        average = beta * average + (1 - beta) * loss
        smooth = average / (1 - beta ** (step + 1))
        test.rates.append(rate)
        test.losses.append(loss)
        test.smoothed.append(smooth)
        if not math.isfinite(smooth):
            test.stopped = f"the loss became {loss} at {rate:.2g}"
            break
        best = min(best, smooth)
        if step > 10 and smooth > diverge * best:
            test.stopped = f"the loss blew up past {diverge:g}x its lowest at {rate:.2g}"
            break
    else:
        test.stopped = f"the sweep reached {end:g} without the loss blowing up"
    finite = [(r, s) for r, s in zip(test.rates, test.smoothed, strict=True) if math.isfinite(s)]
    if len(finite) > 10:
        rates, smooth = (np.array(v) for v in zip(*finite, strict=True))
        test.suggestion = float(rates[int(np.argmin(smooth))] / 10)
        slopes = np.gradient(smooth, np.log(rates))
        test.steepest = float(rates[int(np.argmin(slopes[: int(np.argmin(smooth)) + 1]))])
    return test


def _repeat(batches):
    while True:
        empty = True
        for x, y in batches:
            empty = False
            yield np.asarray(x), np.asarray(y)
        if empty:
            raise ValueError("lr_find: no batches to train on.")
