"""Published weights loaded into zoo's models (``zoo.create_model(name, weights=path)``).

zoo bundles no weights and downloads none. zoo's ResNets and VGGs are built layer for
layer as torchvision builds them (the parameter counts are exact), so the files
torchvision publishes load into them, and keras.applications' VGG16/VGG19 files too:

- torchvision's ``.pth`` files for ``resnet18`` ... ``resnet152`` and ``vgg11`` ...
  ``vgg19`` (``_bn`` too), e.g. ``resnet18-f37072fd.pth`` from the address
  torchvision's ``ResNet18_Weights.IMAGENET1K_V1.url`` names; the same tensors as
  ``.safetensors`` (timm's ``resnet18.tv_in1k`` on the Hugging Face hub) load too;
- keras.applications' ``vgg16_weights_tf_dim_ordering_tf_kernels(_notop).h5`` and the
  VGG19 ones (their ResNets put a bias on every conv, so they do not match zoo's).

Reading a ``.pth`` file needs no PyTorch: it is a zip of a pickle and raw tensor
bytes, and the pickle is read by an unpickler that builds NumPy arrays and refuses any
other class (what ``torch.load(weights_only=True)`` allows, less).

The conversion: conv kernels (out, in, h, w) -> (h, w, in, out); dense (out, in) ->
(in, out), VGG's first classifier layer reordered from PyTorch's channels-first flatten
to Keras' channels-last one; BatchNormalization's four tensors as they are (both use
epsilon 1e-5); a VGG-BN conv's bias (zoo's convs before BN have none) folded into the
BN's moving mean, exact at inference. keras.applications' VGGs take BGR inputs: the
first conv's input channels are reversed, so the model takes RGB like every zoo model.

What the weights expect at the input (``expected_inputs``): torchvision's, RGB in
[0, 1] standardized with ImageNet's mean and std ("imagenet"); keras.applications',
RGB on 0-255 less ImageNet's mean ("caffe"). ``zoo train --weights`` picks that
preprocessing for the data (``zoo.data.preprocessing_layer``).

A layer whose shape differs from the file's (the classifier of a model with another
number of classes, VGG's dense layers at another input size) keeps its initial
weights, and the result says which (timm's ``pretrained=True, num_classes=N``);
anything else that does not fit is an error naming the tensor.
"""

from __future__ import annotations

import collections
import json
import os
import pickle
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

NOT_BUNDLED = (
    "zoo bundles no pretrained weights and downloads none. Give a file: torchvision's "
    "published .pth for resnet18-152 or vgg11-19(_bn) (the address is torchvision's "
    "ResNet18_Weights.IMAGENET1K_V1.url and the like, "
    "https://download.pytorch.org/models/resnet18-f37072fd.pth for ResNet-18), the same "
    "tensors as .safetensors (timm's resnet18.tv_in1k), or keras.applications' VGG16/VGG19 "
    ".h5 (https://storage.googleapis.com/tensorflow/keras-applications/vgg16/)."
)

MEAN = (0.485, 0.456, 0.406)  # ImageNet's, RGB in [0, 1]
STD = (0.229, 0.224, 0.225)
# What the files expect, as (mean, variance) on pixels in [0, 1] (zoo.data's normalize):
# torchvision's, ImageNet's mean and std; keras.applications' VGGs (made RGB here),
# 0-255 less ImageNet's mean.
FIXED_STATISTICS = {
    "imagenet": (MEAN, tuple(s**2 for s in STD)),
    "caffe": ((123.68 / 255, 116.779 / 255, 103.939 / 255), ((1 / 255) ** 2,) * 3),
}


@dataclass
class LoadedWeights:
    """What ``load_weights`` did: the file, its kind (``torch`` / ``keras``), the
    inputs it expects (``imagenet`` / ``caffe``), the layers loaded and the ones left
    at their initial values, with why."""

    path: str
    kind: str
    expects: str
    loaded: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)

    def line(self) -> str:
        kept = "; ".join(f"{k} ({v})" for k, v in self.skipped.items())
        return (
            f"weights from {Path(self.path).name} ({self.kind}): {len(self.loaded)} layers "
            f"loaded" + (f", kept at their initial values: {kept}" if kept else "")
        )


# -- reading the files --------------------------------------------------------------

_STORAGES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "BFloat16Storage": None,  # no NumPy bfloat16: refused with a message
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}


def _rebuild_tensor(storage, offset, size, stride, *args):
    itemsize = storage.dtype.itemsize
    if not size:
        return np.array(storage[offset], copy=True)
    view = np.lib.stride_tricks.as_strided(
        storage[offset:], shape=tuple(size), strides=[s * itemsize for s in stride]
    )
    return np.array(view, copy=True)


def read_torch(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The tensors of a ``torch.save``'d state dict (the zip format PyTorch writes
    since 1.6) as NumPy arrays, without PyTorch. A checkpoint dict holding the state
    dict under ``state_dict`` or ``model`` is unwrapped."""
    path = Path(path)
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise ValueError(
            f"{path}: not a PyTorch zip archive (a file saved before PyTorch 1.6?). Load "
            "it in PyTorch and save it again: torch.save(torch.load(f), 'new.pth')."
        ) from None
    with archive:
        names = archive.namelist()
        pickles = [n for n in names if n.endswith("data.pkl")]
        if not pickles:
            raise ValueError(f"{path}: a zip archive without data.pkl; not a torch.save file.")
        prefix = pickles[0][: -len("data.pkl")]

        class Unpickler(pickle.Unpickler):
            def find_class(self, module, name):
                if module == "torch._utils" and name == "_rebuild_tensor_v2":
                    return _rebuild_tensor
                if module == "torch._utils" and name == "_rebuild_parameter":
                    return lambda data, *args: data
                if module == "torch" and name in _STORAGES:
                    return name
                if module == "collections" and name == "OrderedDict":
                    return collections.OrderedDict
                if module == "torch" and name == "device":
                    return str
                raise pickle.UnpicklingError(
                    f"{path} holds {module}.{name}, not only tensors: zoo reads weight files "
                    "that hold tensors alone (a state dict)."
                )

            def persistent_load(self, pid):
                _, storage, key, _location, _numel = pid
                dtype = _STORAGES.get(storage if isinstance(storage, str) else "")
                if dtype is None:
                    raise ValueError(
                        f"{path}: tensors of type {storage} are not read; use float32."
                    )
                return np.frombuffer(archive.read(f"{prefix}data/{key}"), dtype=dtype)

        with archive.open(pickles[0]) as f:
            state = Unpickler(f).load()
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    return {k: v for k, v in state.items() if isinstance(v, np.ndarray)}


def read_safetensors(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The tensors of a ``.safetensors`` file (an 8-byte header length, a JSON header,
    the raw bytes), without the library."""
    dtypes = {"F32": np.float32, "F16": np.float16, "F64": np.float64, "I64": np.int64,
              "I32": np.int32, "U8": np.uint8, "BOOL": np.bool_}  # fmt: skip
    blob = Path(path).read_bytes()
    length = int.from_bytes(blob[:8], "little")
    header = json.loads(blob[8 : 8 + length])
    data = memoryview(blob)[8 + length :]
    out = {}
    for name, spec in header.items():
        if name == "__metadata__":
            continue
        if spec["dtype"] not in dtypes:
            raise ValueError(f"{path}: {name} is {spec['dtype']}; zoo reads {sorted(dtypes)}.")
        start, end = spec["data_offsets"]
        out[name] = np.frombuffer(data[start:end], dtype=dtypes[spec["dtype"]]).reshape(
            spec["shape"]
        )
    return out


def read_keras_h5(path: str | os.PathLike) -> dict[str, list[np.ndarray]]:
    """Each layer's weights in a Keras 2 ``.h5`` weights file (keras.applications'
    format): ``{layer name: [kernel, bias, ...]}``."""
    import h5py  # only for these files: not at zoo's start-up

    def text(value):
        return value.decode() if isinstance(value, bytes) else str(value)

    with h5py.File(path, "r") as f:
        group = f["model_weights"] if "model_weights" in f else f
        out = {}
        for layer in map(text, group.attrs["layer_names"]):
            names = [text(n) for n in group[layer].attrs["weight_names"]]
            if names:
                out[layer] = [np.asarray(group[layer][n]) for n in names]
    return out


def kind_of(path: Path) -> str:
    with open(path, "rb") as f:
        head = f.read(8)
    if head.startswith(b"PK"):
        return "torch"
    if head.startswith(b"\x89HDF"):
        return "keras"
    if path.suffix == ".safetensors":
        return "safetensors"
    raise ValueError(
        f"{path}: not a weight file zoo reads (a torchvision .pth zip, a .safetensors file, "
        "or a keras.applications .h5)."
    )


# -- where each zoo layer's weights are in the file ---------------------------------

_RESNET = [
    (re.compile(r"conv1_(conv|bn)$"), lambda m: "conv1" if m[1] == "conv" else "bn1"),
    (
        re.compile(r"stage(\d+)_block(\d+)_(\d)_(conv|bn)$"),
        lambda m: f"layer{m[1]}.{int(m[2]) - 1}.{m[4]}{m[3]}",
    ),
    (
        re.compile(r"stage(\d+)_block(\d+)_shortcut_(conv|bn)$"),
        lambda m: f"layer{m[1]}.{int(m[2]) - 1}.downsample.{0 if m[3] == 'conv' else 1}",
    ),
    (re.compile(r"head_logits$"), lambda m: "fc"),
]


def family_of(model) -> str:
    names = {layer.name for layer in model.layers}
    if "stage1_block1_1_conv" in names and "conv1_conv" in names:
        return "resnet"
    if "block1_conv1_conv" in names:
        return "vgg"
    raise ValueError(
        f"{model.name}: published weights load into zoo's resnet18-152 and vgg11-19(_bn) "
        "only (their layers are torchvision's, one for one)."
    )


def torch_names(model) -> dict[str, str]:
    """{zoo layer name: the torchvision state-dict prefix of its weights}."""
    family, out = family_of(model), {}
    if family == "resnet":
        for layer in model.layers:
            for pattern, key in _RESNET:
                match = pattern.match(layer.name)
                if match:
                    out[layer.name] = key(match)
        return out
    index = 0  # torchvision's features: [conv, (BN), ReLU] per conv, a max-pool per stage
    for layer in model.layers:  # construction order: the features' order
        if re.match(r"block\d+_conv\d+_(conv|bn)$", layer.name):
            out[layer.name] = f"features.{index}"
        if re.match(r"block\d+_(conv\d+_(conv|bn|act)|pool)$", layer.name):
            index += 1
    for i, name in enumerate(("head_fc1_dense", "head_fc2_dense", "head_logits")):
        out[name] = f"classifier.{3 * i}"
    return out


def _place(layer, values: list[np.ndarray], source: str, result: LoadedWeights) -> None:
    """``values`` (the file's ``source``) into ``layer``. A classifier layer (``head_*``)
    that does not fit, or that follows one kept at its initial values, keeps its own,
    and ``result`` says why; any other layer that does not fit is an error."""
    head = layer.name.startswith("head")
    if head and result.skipped:
        result.skipped[layer.name] = "after a layer kept at its initial values"
        return
    have = [tuple(w.shape) for w in layer.weights]
    want = [tuple(v.shape) for v in values]
    if have != want:
        problem = f"the file's {source} is {want}, the layer {have}"
        if not head:
            raise ValueError(
                f"{result.path}: {layer.name} cannot take it: {problem} (a file for "
                "another model or depth?)."
            )
        result.skipped[layer.name] = problem
        return
    for w, v in zip(layer.weights, values, strict=True):
        w.assign(v.astype(w.dtype))
    result.loaded.append(layer.name)


def _from_torch(model, state: dict, result: LoadedWeights):
    names = torch_names(model)
    family = family_of(model)
    used = set()
    for layer in model.layers:
        if layer.name not in names:
            continue
        key = names[layer.name]
        kind = type(layer).__name__
        if f"{key}.weight" not in state:
            raise ValueError(
                f"{result.path} has no {key}.weight for {layer.name}: a file for another "
                f"architecture? It holds {', '.join(list(state)[:6])}, ..."
            )
        weight = state[f"{key}.weight"]
        used.add(f"{key}.weight")
        if "BatchNormalization" in [c.__name__ for c in type(layer).__mro__]:
            mean = state[f"{key}.running_mean"]
            conv_bias = state.get(f"{names[layer.name[: -len('_bn')] + '_conv']}.bias")
            if conv_bias is not None and family == "vgg":
                mean = mean - conv_bias  # zoo's conv before BN has no bias: folded here
            values = [weight, state[f"{key}.bias"], mean, state[f"{key}.running_var"]]
            used.update(f"{key}.{n}" for n in ("bias", "running_mean", "running_var"))
        elif kind == "Conv2D":
            values = [weight.transpose(2, 3, 1, 0)]
            if layer.use_bias:
                values.append(state[f"{key}.bias"])
            used.add(f"{key}.bias")
        elif kind == "Dense":
            kernel = weight.T
            if layer.name == "head_fc1_dense" and family == "vgg":
                pooled = model.get_layer("head_flatten").input.shape[1:]
                kernel = _channels_last(kernel, pooled)
            values = [kernel, state[f"{key}.bias"]]
            used.add(f"{key}.bias")
        else:
            continue
        if values[0] is None:
            result.skipped[layer.name] = f"{key} is for 224x224 inputs"
            continue
        _place(layer, values, key, result)
    left = sorted(k for k in state if k not in used and not k.endswith("num_batches_tracked"))
    if left:
        raise ValueError(
            f"{result.path} holds tensors no layer of {model.name} takes: {', '.join(left[:5])}"
            f"{' ...' if len(left) > 5 else ''} (a deeper model's file?)."
        )


def _channels_last(kernel, pooled):
    """VGG's first dense kernel (in, out) with ``in`` in PyTorch's (C, 7, 7) flatten
    order (its adaptive pooling makes every input 7x7), reordered to Keras' (H, W, C)
    for the model's last feature map ``pooled`` (H, W, C); None unless that map is
    7x7 (another input size than 224: the layer keeps its initial weights)."""
    h, w, c = (int(d) for d in pooled)
    if (h, w) != (7, 7) or kernel.shape[0] != c * 49:
        return None
    return kernel.reshape(c, 7, 7, -1).transpose(1, 2, 0, 3).reshape(c * 49, -1)


def _from_keras(model, layers_in_file: dict, result: LoadedWeights):
    if family_of(model) != "vgg":
        raise ValueError(
            f"{result.path}: keras.applications' files load into zoo's vgg16 and vgg19 only "
            "(its ResNets put a bias on every conv, zoo's and torchvision's do not)."
        )
    targets = {}
    for layer in model.layers:
        match = re.match(r"(block\d+_conv\d+)_conv$", layer.name)
        if match:
            targets[layer.name] = match[1]
    targets.update(head_fc1_dense="fc1", head_fc2_dense="fc2", head_logits="predictions")
    for layer in model.layers:
        source = targets.get(layer.name)
        if source is None:
            continue
        if source not in layers_in_file:
            if layer.name.startswith("head"):
                result.skipped[layer.name] = "not in the file (a _notop file)"
                continue
            raise ValueError(f"{result.path} has no layer {source} for {layer.name}.")
        values = list(layers_in_file[source])
        if layer.name == "block1_conv1_conv":
            values[0] = values[0][:, :, ::-1, :]  # BGR -> RGB
        _place(layer, values, source, result)


def load_weights(model, path: str | os.PathLike) -> LoadedWeights:
    """Load the published weight file at ``path`` into ``model`` (zoo's resnet or
    vgg, built with the file's depth) in place; see the module's text."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such weight file. {NOT_BUNDLED}")
    family_of(model)
    kind = kind_of(path)
    if kind == "keras":
        result = LoadedWeights(str(path), "keras.applications", "caffe")
        _from_keras(model, read_keras_h5(path), result)
    else:
        state = read_torch(path) if kind == "torch" else read_safetensors(path)
        result = LoadedWeights(str(path), "torchvision", "imagenet")
        _from_torch(model, state, result)
    return result


def expected_inputs(path: str | os.PathLike) -> str:
    """``"imagenet"`` (torchvision's files) or ``"caffe"`` (keras.applications')."""
    return "caffe" if kind_of(Path(path)) == "keras" else "imagenet"


def normalization(normalize: str, weights: str | os.PathLike | None) -> str:
    """The images' preprocessing: ``normalize`` as given, else (``"auto"``) what the
    ``weights`` file expects, else the data's default (``"auto"``)."""
    if weights is not None and normalize == "auto":
        return expected_inputs(weights)
    return normalize
