"""Model ensembles: N trained models of the same inputs and outputs combined into one
``keras.Model`` that saves, loads and exports like any zoo model.

The notes' last stage: "model ensembles are a pretty much guaranteed way to gain 2% of
accuracy on anything". zoo models output logits, and so does the ensemble, so the loss,
the evaluation and the export path (which adds softmax or sigmoid) take it unchanged:

- ``combine="probabilities"`` (the default): the members' probabilities are averaged,
  and the ensemble outputs their log, computed stably as a log-sum-exp of the members'
  log-probabilities (softmax of it gives back the mean probability exactly);
- ``combine="logits"``: the members' logits are averaged (a geometric mean of the
  probabilities, renormalized);
- regression: the members' predictions are averaged, whichever ``combine``.

    members = [train(seed) for seed in range(5)]
    model = ensemble(members)          # one Model; model.save("ensemble.keras") works
    export_and_verify(model, loaded, run_dir)
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import keras
from keras import layers, ops

COMBINE = ("probabilities", "logits")


@keras.saving.register_keras_serializable(package="zoo")
class CombineMembers(layers.Layer):
    """Averages a list of member outputs (logits) into ensemble logits, see module doc.
    ``task`` is "classification" or "regression"."""

    def __init__(self, combine: str = "probabilities", task: str = "classification", **kwargs):
        super().__init__(**kwargs)
        if combine not in COMBINE:
            raise ValueError(f"combine={combine!r}: choose from {', '.join(COMBINE)}.")
        if task not in ("classification", "regression"):
            raise ValueError(f"task={task!r}: 'classification' or 'regression'.")
        self.combine = combine
        self.task = task

    def call(self, inputs):
        z = ops.stack([ops.cast(x, "float32") for x in inputs], axis=0)
        if self.task == "regression" or self.combine == "logits":
            return ops.mean(z, axis=0)
        log_n = math.log(len(inputs))
        if z.shape[-1] == 1:  # binary: one logit, sigmoid probabilities
            log_p = ops.logsumexp(ops.log_sigmoid(z), axis=0) - log_n
            log_q = ops.logsumexp(ops.log_sigmoid(-z), axis=0) - log_n
            return log_p - log_q
        return ops.logsumexp(ops.log_softmax(z, axis=-1), axis=0) - log_n

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {**super().get_config(), "combine": self.combine, "task": self.task}


def ensemble(
    models: Sequence[keras.Model],
    *,
    combine: str = "probabilities",
    task: str | None = None,
    name: str = "ensemble",
) -> keras.Model:
    """One ``keras.Model`` whose output combines ``models``' outputs (see the module
    doc). Every member must take the same input shape and give the same output shape;
    ``task`` defaults to regression only when told. Members are wrapped as
    ``member0``, ``member1``, ... so that two copies of one architecture can sit side by
    side; their weights are shared with the models passed in, not copied."""
    models = list(models)
    if len(models) < 2:
        raise ValueError(f"an ensemble needs at least 2 models; got {len(models)}.")
    shape_in, shape_out = models[0].input_shape, models[0].output_shape
    for i, m in enumerate(models[1:], start=1):
        if m.input_shape != shape_in or m.output_shape != shape_out:
            raise ValueError(
                f"member {i} ({m.name}) takes {m.input_shape} and gives {m.output_shape}, but "
                f"member 0 ({models[0].name}) takes {shape_in} and gives {shape_out}; "
                "ensemble members must be interchangeable."
            )
    task = task or "classification"
    inputs = keras.Input(shape=shape_in[1:], name="inputs")
    outputs = [
        keras.Model(m.input, m.output, name=f"member{i}")(inputs) for i, m in enumerate(models)
    ]
    combined = CombineMembers(combine, task, name="combine")(outputs)
    return keras.Model(inputs, combined, name=name)


def members(model: keras.Model) -> list[keras.Model]:
    """The member models of an ``ensemble`` (for example after ``keras.models.load_model``)."""
    found = [layer for layer in model.layers if layer.name.startswith("member")]
    if not found:
        raise ValueError(f"{model.name} is not a zoo ensemble (no member layers).")
    return found
