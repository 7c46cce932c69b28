"""One way to build any zoo model by name: ``create_model``, ``list_models``, ``model_info``.

The table below is the zoo's results table: each model's trainable parameter count
and forward multiply-accumulates at its default input size. Where a paper or
torchvision publishes the parameter count, ``params`` is that published figure and the
tests hold the built model to it exactly. Reading the table imports no TensorFlow;
``create_model`` imports only the module of the family it builds.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zoo.models import leaf_layers


@dataclass(frozen=True)
class ModelSpec:
    name: str
    family: str
    builder: str  # "module:function" under zoo.models
    input_shape: tuple[int, ...]
    num_classes: int
    params: int  # trainable parameters at input_shape / num_classes
    macs: int  # forward multiply-accumulates of convs and dense layers, one example
    source: str  # where the parameter count comes from
    kwargs: dict[str, Any] = field(default_factory=dict)

    @property
    def flops(self) -> int:
        """Forward FLOPs, counting a multiply-accumulate as two."""
        return 2 * self.macs


_TV = "torchvision {} (He et al. 2015)"
_VGG = "Simonyan & Zisserman 2014; torchvision {}"
_VGG_BN = (
    "torchvision {} less its {:,} conv biases (redundant before BatchNormalization, "
    "so zoo drops them)"
)
_CIFAR = "He et al. 2015, Table 6 (option A shortcuts)"
_ZOO = "zoo (no published figure; held by the tests)"
_IMAGENET = dict(input_shape=(224, 224, 3), num_classes=1000)
_CIFAR10 = dict(input_shape=(32, 32, 3), num_classes=10)
_DIGITS_IMG = dict(input_shape=(8, 8, 1), num_classes=10)
_DIGITS_VEC = dict(input_shape=(64,), num_classes=10)

_SPECS = [
    ModelSpec(
        "linear", "linear", "linear:linear", **_DIGITS_VEC, params=650, macs=640, source=_ZOO
    ),
    ModelSpec("mlp", "mlp", "mlp:mlp", **_DIGITS_VEC, params=50_826, macs=50_432, source=_ZOO),
    ModelSpec(
        "tiny_convnet",
        "convnet",
        "convnet:tiny_convnet",
        **_DIGITS_IMG,
        params=1_442,
        macs=23_200,
        source=_ZOO,
    ),
    ModelSpec(
        "convnet",
        "convnet",
        "convnet:convnet",
        **_DIGITS_IMG,
        params=288_170,
        macs=2_379_008,
        source=_ZOO,
    ),
    *[
        ModelSpec(
            f"vgg{d}",
            "vgg",
            "vgg:vgg",
            **_IMAGENET,
            params=p,
            macs=m,
            source=_VGG.format(f"vgg{d}"),
            kwargs={"depth": d},
        )
        for d, p, m in [
            (11, 132_863_336, 7_609_090_048),
            (13, 133_047_848, 11_308_466_176),
            (16, 138_357_544, 15_470_264_320),
            (19, 143_667_240, 19_632_062_464),
        ]
    ],
    *[
        ModelSpec(
            f"vgg{d}_bn",
            "vgg",
            "vgg:vgg",
            **_IMAGENET,
            params=p - b,
            macs=m,
            source=_VGG_BN.format(f"vgg{d}_bn ({p:,})", b),
            kwargs={"depth": d, "batch_norm": True},
        )
        for d, p, b, m in [
            (11, 132_868_840, 2_752, 7_609_090_048),
            (13, 133_053_736, 2_944, 11_308_466_176),
            (16, 138_365_992, 4_224, 15_470_264_320),
            (19, 143_678_248, 5_504, 19_632_062_464),
        ]
    ],
    *[
        ModelSpec(
            f"resnet{d}",
            "resnet",
            "resnet:resnet",
            **_IMAGENET,
            params=p,
            macs=m,
            source=_TV.format(f"resnet{d}"),
            kwargs={"depth": d},
        )
        for d, p, m in [
            (18, 11_689_512, 1_814_073_344),
            (34, 21_797_672, 3_663_761_408),
            (50, 25_557_032, 4_089_184_256),
            (101, 44_549_160, 7_801_405_440),
            (152, 60_192_808, 11_513_626_624),
        ]
    ],
    *[
        ModelSpec(
            f"cifar_resnet{d}",
            "cifar_resnet",
            "cifar_resnet:cifar_resnet",
            **_CIFAR10,
            params=p,
            macs=m,
            source=_CIFAR,
            kwargs={"depth": d},
        )
        for d, p, m in [
            (20, 269_722, 40_551_040),
            (32, 464_154, 68_862_592),
            (44, 658_586, 97_174_144),
            (56, 853_018, 125_485_696),
            (110, 1_727_962, 252_887_680),
        ]
    ],
]
_REGISTRY: dict[str, ModelSpec] = {spec.name: spec for spec in _SPECS}


def list_models(family: str | None = None) -> list[str]:
    """Names of the registered models, optionally of one family, in table order."""
    if family is not None and family not in families():
        raise ValueError(f"family={family!r} is unknown; families: {', '.join(families())}.")
    return [s.name for s in _SPECS if family is None or s.family == family]


def families() -> list[str]:
    return list(dict.fromkeys(s.family for s in _SPECS))


def get_spec(name: str) -> ModelSpec:
    """The registry entry for ``name``; an unknown name raises ``ValueError`` with close
    matches."""
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        close = difflib.get_close_matches(str(name), list(_REGISTRY), n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise ValueError(
            f"Unknown model {name!r}.{hint} Known models: {', '.join(_REGISTRY)} "
            "(`zoo models` lists them with their sizes)."
        ) from None


def model_info(name: str) -> dict[str, Any]:
    """Family, trainable parameters, forward MACs and FLOPs at the default input size,
    default input shape and classes, and where the parameter figure comes from."""
    spec = get_spec(name)
    return {
        "name": spec.name,
        "family": spec.family,
        "params": spec.params,
        "macs": spec.macs,
        "flops": spec.flops,
        "input_shape": spec.input_shape,
        "num_classes": spec.num_classes,
        "source": spec.source,
    }


def builder(name: str):
    """The family's builder function and the fixed arguments of ``name``."""
    spec = get_spec(name)
    module, function = spec.builder.split(":")
    return getattr(importlib.import_module(f"zoo.models.{module}"), function), spec


PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")


def check_precision(precision: str) -> str:
    """``precision`` if it is a dtype policy zoo builds with, else ``ValueError``."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision={precision!r} must be one of {', '.join(PRECISIONS)}.")
    return precision


def check_model_args(name: str, arguments: dict) -> list[str]:
    """The arguments ``create_model(name, ...)`` accepts; a ``ValueError`` naming the
    ones in ``arguments`` it does not, without building anything."""
    build, spec = builder(name)
    accepted = [p for p in inspect.signature(build).parameters if p not in spec.kwargs]
    unknown = sorted(set(arguments) - set(accepted))
    if unknown:
        raise ValueError(
            f"create_model({name!r}) got unknown argument(s) {', '.join(unknown)}; "
            f"it accepts: {', '.join(accepted)}."
        )
    return accepted


def create_model(name: str, precision: str | None = None, **overrides):
    """Build registered model ``name`` as a fresh ``keras.Model`` that outputs logits.

    ``overrides`` go to the family's builder (``input_shape``, ``num_classes``,
    ``regularizer``, ``dropout``, ``include_top``, ``pooling``, ``width_multiplier``, ...);
    unset ones take the registry's defaults. An argument the builder does not take
    raises ``ValueError`` listing those it does. ``precision`` is the dtype policy the
    layers are built with (``"float32"``, the default; ``"mixed_bfloat16"``,
    ``"mixed_float16"``, which pay only on hardware with those units:
    ``docs/benchmarks.md``); the logits are float32 whatever it is, and the global
    policy is left as it was.
    """
    import keras

    build, spec = builder(name)
    precision = check_precision(precision or "float32")
    accepted = check_model_args(name, overrides)
    arguments = {"input_shape": spec.input_shape, "num_classes": spec.num_classes}
    arguments.update(spec.kwargs)
    arguments.update(overrides)
    if "name" in accepted and "name" not in overrides:
        arguments["name"] = spec.name
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(precision)
    try:
        return build(**arguments)
    finally:
        keras.config.set_dtype_policy(previous)


def load_model(path, *, compile: bool = True, safe_mode: bool = True):
    """Load a ``.keras`` file written by zoo (a checkpoint, ``model.keras``, an
    ensemble): ``keras.saving.load_model`` after registering the zoo layers that a few
    files hold (``Maxout``, ``CombineMembers``; ``BatchNorm`` and ``ZeroPadShortcut`` in
    files from earlier versions), which plain Keras cannot find by itself; the registered
    models are stock layers only, and load in any Keras. On TensorFlow, the
    BatchNormalization layers are fused again (``zoo.blocks.fuse_batch_norm``). A
    missing file is a clear error, and so is a file cut short (a crash while it was
    written): ``ValueError`` saying it is unreadable."""
    import keras

    # Imported here, not at the top: they import Keras, and ``import zoo`` (which
    # imports this module) stays cheap. Importing them registers zoo's layers.
    import zoo.blocks  # noqa: F401
    import zoo.ensemble  # noqa: F401

    if not Path(path).is_file():
        raise FileNotFoundError(f"{path}: no such model file; give a .keras file zoo wrote.")
    try:
        with zipfile.ZipFile(path) as archive:
            damaged = archive.testzip()
    except (zipfile.BadZipFile, OSError) as err:
        damaged = str(err)
    if damaged:
        raise ValueError(
            f"{path} exists but is unreadable ({damaged}): not a complete .keras archive, "
            "perhaps cut short while it was written."
        )
    model = keras.saving.load_model(path, compile=compile, safe_mode=safe_mode)
    zoo.blocks.fuse_batch_norms(model)
    return model


def count_params(model) -> int:
    """Trainable parameters (PyTorch's convention: no BatchNormalization statistics)."""
    return int(sum(int(_prod(w.shape)) for w in model.trainable_weights))


def count_macs(model) -> int:
    """Forward multiply-accumulates for one example, counting Conv2D (grouped too),
    DepthwiseConv2D and Dense layers, the layers that carry nearly all the work."""
    from keras import layers

    total = 0
    for layer in leaf_layers(model):
        if isinstance(layer, layers.DepthwiseConv2D):
            kh, kw, cin, mult = layer.kernel.shape
            total += _prod(layer.output.shape[1:3]) * kh * kw * cin * mult
        elif isinstance(layer, layers.Conv2D):
            kh, kw, cin_per_group, cout = layer.kernel.shape
            total += _prod(layer.output.shape[1:3]) * kh * kw * cin_per_group * cout
        elif isinstance(layer, layers.Dense):
            cin, cout = layer.kernel.shape
            total += _prod(layer.output.shape[1:-1]) * cin * cout
    return int(total)


def _prod(values) -> int:
    out = 1
    for v in values:
        out *= int(v)
    return out
