"""Fine-tuning from a checkpoint: "it rarely ever hurts to use a pretrained network".

``finetune_model(checkpoint, num_classes)`` loads a saved zoo model (a ``.keras`` file
or a run folder), keeps everything up to its last (logits) layer as the backbone,
and puts a new logits layer for ``num_classes`` on top.

The backbone's BatchNormalization layers stay frozen whatever else trains: in Keras 3 a
frozen BN layer runs in inference mode, normalizing with the statistics learned on the
source data and never updating them. That is the classic fine-tuning trap avoided: a
BN layer left trainable in an unfrozen stage normalizes with the small target set's
batch statistics and overwrites its moving averages, so the features at inference
differ from the ones the head trained on. The usual advice, calling the backbone with
``training=False``, does not hold in Keras 3: ``fit`` passes ``training=True`` down and
it wins (keras-team/keras#20285; ``tests/test_squeeze.py`` shows it), so zoo freezes
the BN layers themselves.

Freezing goes by stage, with the stage names zoo models give their layers (``stem``,
``stage1``, ``stage2``, ... or ``block1``, ... for VGG, ``head_fc1``, ... for MLPs):
``set_trainable(model, 0)`` trains the new head alone, ``set_trainable(model, 1)`` the
last stage too, ``set_trainable(model, ["stage3"])`` names them, and
``set_trainable(model, "all")`` unfreezes everything but BN.
Recompile after changing what trains (``compile_model`` does).
"""

from __future__ import annotations

import re
from pathlib import Path

import keras
import numpy as np

from zoo.packaged import load_network

BACKBONE = "backbone"
_STAGE = re.compile(r"^(stage\d+|block\d+|head_fc\d+)")


def _load(checkpoint) -> keras.Model:
    if isinstance(checkpoint, keras.Model):
        return checkpoint
    path = Path(checkpoint)
    if path.is_dir():
        for name in ("model.keras", "best.keras"):
            if (path / name).exists():
                path = path / name
                break
        else:
            raise FileNotFoundError(f"{checkpoint}: no model.keras or best.keras in this folder.")
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such checkpoint; give a .keras file or a run folder.")
    return load_network(path)  # a run's model.keras holds its preprocessing too


def logits_layer(model: keras.Model) -> keras.layers.Layer:
    """The model's last layer: the Dense that makes the logits."""
    last = model.layers[-1]
    if not isinstance(last, keras.layers.Dense):
        raise ValueError(
            f"{model.name}: the last layer {last.name!r} is a {type(last).__name__}, not the Dense "
            "logits layer a zoo classifier ends with; fine-tune a model built with include_top."
        )
    return last


def stage_of(layer_name: str) -> str:
    """``stage2_conv1_bn`` -> ``stage2``; ``head_fc1_dense`` -> ``head_fc1``; other head
    layers -> ``head``; the rest (stem convolutions, padding, inputs) -> ``stem``."""
    m = _STAGE.match(layer_name)
    if m:
        return m.group(1)
    return "head" if layer_name.startswith("head") else "stem"


def stages(model: keras.Model) -> list[str]:
    """The backbone's stage names that hold weights, input to output."""
    backbone = model.get_layer(BACKBONE)
    seen: dict[str, None] = {}
    for layer in backbone.layers:
        if layer.weights:
            seen.setdefault(stage_of(layer.name), None)
    return list(seen)


def finetune_model(
    checkpoint,
    num_classes: int,
    *,
    trainable="head",
    dropout: float = 0.0,
    name: str | None = None,
) -> keras.Model:
    """A new model: ``checkpoint``'s backbone (see module doc) and fresh logits for
    ``num_classes``, with ``trainable`` stages unfrozen (``"head"``/0: the new head
    only, the default; an int: that many last stages; a list of names; ``"all"``)."""
    source = _load(checkpoint)
    last = logits_layer(source)
    features = last.input
    backbone = keras.Model(source.inputs, features, name=BACKBONE)
    inputs = keras.Input(shape=source.input_shape[1:], name="inputs")
    x = backbone(inputs)
    if dropout:
        x = keras.layers.Dropout(dropout, name="new_head_drop")(x)
    outputs = keras.layers.Dense(num_classes, name="new_logits", dtype="float32")(x)
    model = keras.Model(inputs, outputs, name=name or f"{source.name}_finetuned")
    set_trainable(model, trainable)
    return model


def set_trainable(model: keras.Model, trainable="head") -> list[str]:
    """Freeze the backbone except ``trainable`` stages (see ``finetune_model``); the new
    head always trains. Returns the stages that train."""
    names = stages(model)
    if trainable in ("head", 0, None):
        chosen: list[str] = []
    elif trainable == "all":
        chosen = names
    elif isinstance(trainable, int):
        if trainable < 0:
            raise ValueError(f"trainable={trainable}: a count of last stages must be >= 0.")
        chosen = names[-trainable:]
    else:
        chosen = list(trainable)
        unknown = [s for s in chosen if s not in names]
        if unknown:
            raise ValueError(f"trainable: {unknown} not among the stages {', '.join(names)}.")
    backbone = model.get_layer(BACKBONE)
    backbone.trainable = True
    for layer in backbone.layers:
        batch_norm = isinstance(layer, keras.layers.BatchNormalization)
        layer.trainable = stage_of(layer.name) in chosen and not batch_norm
    return chosen


def frozen_state(model: keras.Model) -> dict[str, np.ndarray]:
    """Copies of the backbone's non-trainable-now weights (frozen kernels and every BN
    moving statistic), to check that training left them alone."""
    backbone = model.get_layer(BACKBONE)
    return {v.path: np.array(v) for v in backbone.weights if not v.trainable}
