"""A ``keras_tuner.HyperModel`` for each zoo family (mlp, convnet, cifar_resnet, vgg).

``build(hp)`` samples the family's space (``tuning.spaces``), builds the zoo model with
those sizes and regularizers, sets the output bias from the training labels (the
recipe's "init well"), and compiles it with the sampled optimizer and learning rate.
``fit(hp, model, ...)`` passes the sampled batch size to ``model.fit``.
"""

from __future__ import annotations

from typing import Any

import keras_tuner
import numpy as np

from tuning.spaces import SPACES, sample
from zoo.config import DEFAULTS
from zoo.models.variants import CONVNET_STAGES
from zoo.optim import compile_model
from zoo.outputs import init_output_bias
from zoo.registry import create_model


def model_arguments(family: str, values: dict[str, Any], model: str) -> tuple[str, dict]:
    """The registered name and ``create_model`` arguments for sampled ``values``."""
    l1, l2 = values.get("l1", 0.0), values.get("l2", 0.0)
    kwargs: dict[str, Any] = {"dropout": float(values.get("dropout", 0.0))}
    if l1 or l2:
        kwargs["regularizer"] = f"l1l2:{l1:g},{l2:g}"
    if family == "mlp":
        kwargs["hidden"] = [int(values.get("width", 256))] * int(values.get("depth", 2))
        return model, kwargs
    if family == "convnet":
        depth = int(values.get("depth", 2))
        kwargs["stages"] = [(filters, depth) for filters, _ in CONVNET_STAGES]
        kwargs["width_multiplier"] = float(values.get("width_multiplier", 1.0))
        return "convnet", kwargs
    if family == "cifar_resnet":
        kwargs["width_multiplier"] = float(values.get("width_multiplier", 1.0))
        return f"cifar_resnet{int(values.get('depth', 20))}", kwargs
    if family == "vgg":
        kwargs["width_multiplier"] = float(values.get("width_multiplier", 0.25))
        kwargs["hidden"] = [int(values.get("hidden", 512))] * 2
        name = f"vgg{int(values.get('depth', 11))}" + ("_bn" if values.get("batch_norm") else "")
        return name, kwargs
    raise ValueError(f"no hypermodel for family {family!r}; choose from {', '.join(SPACES)}.")


class ZooHyperModel(keras_tuner.HyperModel):
    """Search ``family``'s space (``space`` overrides it) for data of ``input_shape``
    with ``num_classes`` outputs (1 for regression); ``y_train`` sets the output bias."""

    def __init__(
        self,
        family: str,
        *,
        input_shape,
        num_classes: int,
        task: str = "classification",
        y_train: np.ndarray | None = None,
        space: dict[str, tuple] | None = None,
        model: str | None = None,
        loss: str | None = None,
    ):
        if family not in SPACES:
            raise ValueError(
                f"no hypermodel for family {family!r}; choose from {', '.join(SPACES)}."
            )
        super().__init__(name=f"zoo_{family}", tunable=True)
        self.family = family
        self.input_shape = tuple(input_shape)
        self.num_classes = int(num_classes)
        self.task = task
        self.y_train = y_train
        self.space = dict(space) if space is not None else dict(SPACES[family])
        self.model = model or family
        self.loss = loss

    def build(self, hp):
        values = sample(hp, self.space)
        name, kwargs = model_arguments(self.family, values, self.model)
        model = create_model(
            name, input_shape=self.input_shape, num_classes=self.num_classes, **kwargs
        )
        compile_model(
            model,
            self.task,
            optimizer=values.get("optimizer", "adam"),
            learning_rate=float(values.get("learning_rate", DEFAULTS.learning_rate)),
            loss=self.loss,
            data_loss_metric=True,  # the objective: loss without L1/L2 penalties
        )
        if self.y_train is not None:
            init_output_bias(model, self.y_train, self.task)
        return model

    def fit(self, hp, model, *args, **kwargs):
        batch_size = int(hp.values.get("batch_size", DEFAULTS.batch_size))
        return model.fit(*args, batch_size=batch_size, **kwargs)
