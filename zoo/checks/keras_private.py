"""The one place the checks reach into Keras' private attributes, each with why.

- ``learning_rate_schedule``: ``optimizer.learning_rate`` gives the current value
  only; the schedule object (to ask where it will be at half of training) is
  ``optimizer._learning_rate``.
- ``compiled_arguments``: ``compile``'s other arguments (metrics, loss weights), to
  compile a subclassed model again as the program had it; Keras keeps them in
  ``model._compile_config``.
- ``is_functional``: whether a model is a graph of layers whose inner tensors can be
  read: Keras has no public name for the Functional class (``keras.Model(inputs,
  outputs)`` returns one; a subclassed model is a ``keras.Model`` too).
- ``fit_validation_split`` and ``data_adapter``: ``fit``'s own reading of its data
  (``array_slicing.train_validation_split``, ``data_adapters.get_data_adapter``), so
  ``zoo check`` refuses a ``fit`` call with Keras' own error before checking it. Keras
  runs them only inside ``fit``, which would start training.
- ``drop_compiled_metrics``: a ``clone_model`` copy keeps the program's compiled
  metrics, and ``compile(metrics=None)`` keeps them too (``model._compile_metrics``);
  the checks' copies train without them (``metrics=[]`` would break a custom
  ``train_step`` that reads every metric's result).
- ``loss_function_arguments``: the keyword arguments of a ``LossFunctionWrapper``
  (Huber's ``delta``, ``from_logits``): ``loss._fn_kwargs``.
- ``inbound_tensor``: the tensor a nested model (a frozen ``keras.applications`` base)
  is called on inside the outer graph: ``layer.input`` of a nested Functional model is
  its own ``Input``, the outer one is in ``layer._inbound_nodes``.

``tests/test_layout.py::test_private_keras_names_exist`` holds these names against the
installed Keras, so an upgrade that moves them fails there, not in a user's check.
"""

from __future__ import annotations

import keras
from keras.src.models.functional import Functional
from keras.src.trainers.data_adapters import array_slicing, get_data_adapter


def learning_rate_schedule(optimizer):
    """The optimizer's learning rate as given: a float variable or a schedule."""
    return optimizer._learning_rate


def compiled_arguments(model) -> dict:
    """The arguments ``model.compile`` was called with ({} when unknown)."""
    return dict(getattr(getattr(model, "_compile_config", None), "config", {}) or {})


def is_functional(model) -> bool:
    """A Functional model (or Sequential): its layers' inputs and outputs are graph
    tensors that a sub-model can read."""
    return isinstance(model, keras.Sequential | Functional)


def drop_compiled_metrics(model) -> None:
    """The model trains and evaluates without the metrics it was compiled with."""
    model._compile_metrics = None


def loss_function_arguments(loss) -> dict:
    """The keyword arguments a ``keras.losses.Loss`` passes to its function."""
    loss = getattr(loss, "loss", loss)  # zoo.outputs' rank-matching wrapper of the object
    return dict(getattr(loss, "_fn_kwargs", {}) or {})


def fit_validation_split(arrays: tuple, split: float) -> tuple:
    """``((x, y, w), validation)`` as ``fit(validation_split=split)`` cuts them; Keras'
    ``ValueError`` where it refuses (a dataset or generator with a split)."""
    return array_slicing.train_validation_split(arrays, validation_split=split)


def data_adapter(x, y, sample_weight, batch_size, steps_per_epoch, class_weight):
    """Keras' data adapter for ``fit``'s arguments: its ``ValueError`` where ``fit``
    would refuse them. A Python generator is not read (it would be consumed)."""
    if hasattr(x, "__next__") or isinstance(x, keras.utils.PyDataset):
        return None
    return get_data_adapter(x, y, sample_weight=sample_weight, batch_size=batch_size,
                            steps_per_epoch=steps_per_epoch, class_weight=class_weight)


__all__ = [
    "compiled_arguments",
    "data_adapter",
    "drop_compiled_metrics",
    "fit_validation_split",
    "is_functional",
    "learning_rate_schedule",
    "loss_function_arguments",
]


def inbound_tensor(layer):
    """The outer graph's tensor that ``layer`` was last called on (its first input)."""
    return layer._inbound_nodes[-1].input_tensors[0]
