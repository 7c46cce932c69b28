"""A trained network packaged to answer on raw inputs, the way the SavedModel export
does: ``model.keras`` and ``best.keras`` in a run folder.

A network trains on preprocessed inputs (pixels scaled to [0, 1], features
standardized with the training split's statistics), so the network alone, fed raw
inputs, answers wrongly and says nothing. The packaged model is one functional model:

    inputs (raw) -> the preprocessing layer (Rescaling / Normalization, fitted)
                 -> the network (logits, as trained; a nested model)
                 -> probabilities (softmax, or sigmoid for one unit) and class_id
                    (prediction for regression)

the outputs of the SavedModel's ``serving_default`` signature. It holds stock Keras
layers and ops only, so ``keras.saving.load_model(path, safe_mode=True)`` loads it
without zoo, on any backend, and ``model.predict(raw)["probabilities"]`` is what the
export serves. The data's class names, feature names and task ride in the archive as
``zoo.json`` (Keras reads the members it knows and leaves the others):

    json.loads(zipfile.ZipFile("model.keras").read("zoo.json"))["class_names"]

``load_network`` gives the trained network back (what evaluation, fine-tuning and
distillation take); a file written without the package (a bare network, an older run)
is returned as it is.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import keras

from zoo.registry import load_model
from zoo.runfolder import atomic_path

INFO_MEMBER = "zoo.json"
FORMAT = 1


def float32_model(model):
    """``model`` itself when it computes in float32, else a float32 copy with the same
    weights: a mixed-precision model (bfloat16, float16) is served in float32, which
    every runtime and converter takes (TFLite has no bfloat16 convolution) and every
    CPU runs at full speed."""
    if all(layer.dtype_policy.compute_dtype == "float32" for layer in model._flatten_layers()):
        return model

    def to_float32(value):
        if isinstance(value, dict):
            if value.get("class_name") in ("DTypePolicy", "FloatDTypePolicy"):
                return "float32"
            return {k: to_float32(v) for k, v in value.items()}
        if isinstance(value, list):
            return [to_float32(v) for v in value]
        if isinstance(value, str) and value.startswith("mixed_"):
            return "float32"
        return value

    config = to_float32(model.get_config())
    copy = model.__class__.from_config(config)
    copy.set_weights(model.get_weights())
    return copy


def serving_model(model, preprocess=None, task: str = "classification"):
    """Wrap a logits model: raw inputs -> ``preprocess`` -> model (in float32:
    ``float32_model``) -> a dict of ``probabilities`` and ``class_id`` (int32;
    classification) or ``prediction`` (regression)."""
    layers, ops = keras.layers, keras.ops
    model = float32_model(model)
    inputs = keras.Input(shape=model.input_shape[1:], name="inputs")
    x = preprocess(inputs) if preprocess is not None else inputs
    logits = model(x)
    if task == "regression":
        return keras.Model(inputs, {"prediction": logits}, name="serving")
    if task != "classification":
        raise ValueError(f'task={task!r} must be "classification" or "regression".')
    if logits.shape[-1] == 1:
        probabilities = layers.Activation("sigmoid", name="probabilities")(logits)
        class_id = ops.cast(probabilities[:, 0] > 0.5, "int32")
    else:
        probabilities = layers.Activation("softmax", name="probabilities")(logits)
        if keras.backend.backend() == "jax":
            # jax.lax.top_k lowers to a StableHLO composite newer than the one
            # TensorFlow's XlaCallModule reads; argmax lowers to plain reduce ops.
            class_id = ops.cast(ops.argmax(probabilities, axis=-1), "int32")
        else:
            # top_k, not argmax: Keras' argmax on TensorFlow bitcasts to find -0.0,
            # which ONNX and TFLite converters do not take.
            class_id = ops.cast(ops.top_k(probabilities, k=1)[1][:, 0], "int32")
    # int32: JAX has no int64 by default (a file holding an int64 cast warns there);
    # the SavedModel's signature casts it to int64
    return keras.Model(
        inputs, {"probabilities": probabilities, "class_id": class_id}, name="serving"
    )


def describe(network, info) -> dict:
    """What ``zoo.json`` says: the task, the names of the classes and features, the
    raw input shape, the outputs and the name of the network inside."""
    outputs = ["prediction"] if info.task == "regression" else ["probabilities", "class_id"]
    return {
        "format": FORMAT,
        "network": network.name,
        "task": info.task,
        "class_names": list(info.class_names) if info.task == "classification" else [],
        "feature_names": list(info.feature_names or []),
        "input_shape": [int(d) for d in info.input_shape],
        "outputs": outputs,
        "source": str(info.source),
        "load": "keras.saving.load_model(path, safe_mode=True): raw inputs in; "
        "zoo.load_network(path): the trained network (preprocessed inputs, logits)",
    }


def save_packaged(network, path: str | os.PathLike, preprocess, info) -> Path:
    """``network`` packaged with ``preprocess`` (``serving_model``) and saved at
    ``path`` with ``zoo.json`` in the archive (``describe(network, info)``), through
    a temporary file renamed into place: a crash never leaves a truncated file."""
    packaged = serving_model(network, preprocess, info.task)
    with atomic_path(path) as tmp:
        packaged.save(tmp)
        with zipfile.ZipFile(tmp, "a") as archive:
            archive.writestr(INFO_MEMBER, json.dumps(describe(network, info), indent=2))
    return Path(path)


def read_info(path: str | os.PathLike) -> dict | None:
    """The ``zoo.json`` of a packaged ``.keras`` file; None for any other file."""
    try:
        with zipfile.ZipFile(path) as archive:
            if INFO_MEMBER not in archive.namelist():
                return None
            return json.loads(archive.read(INFO_MEMBER))
    except (zipfile.BadZipFile, OSError, json.JSONDecodeError):
        return None


def network_of(model, info: dict | None):
    """The trained network inside a loaded packaged model (``info`` its ``zoo.json``);
    ``model`` itself when ``info`` is None."""
    if info is None:
        return model
    try:
        return model.get_layer(info["network"])
    except (KeyError, ValueError):
        raise ValueError(
            f"the packaged model has no network named {info.get('network')!r}; its layers: "
            f"{[layer.name for layer in model.layers]}."
        ) from None


def load_network(path: str | os.PathLike, *, compile: bool = False):
    """The trained network in the ``.keras`` file at ``path`` (taking preprocessed
    inputs, giving logits): the one inside a packaged file, else the file's model.
    ``zoo.load_model`` errors for a missing or damaged file."""
    info = read_info(path)
    model = load_model(path, compile=compile and info is None)
    return network_of(model, info)
