"""One way to build any zoo model by name: ``create_model``, ``list_models``, ``model_info``.

The registry holds the builder functions themselves (each family's module registers
its builder with ``zoo.models.register``) and reads the variants and their figures
from the families' one table (``zoo.models.variants``): each model's trainable
parameter count and forward multiply-accumulates at its default input size. Where a
paper or torchvision publishes the parameter count, ``params`` is that figure and the
tests hold the built model to it exactly. Reading the table imports no Keras; the
builders (and Keras) are loaded when a model is built or its arguments are checked.
"""

from __future__ import annotations

import ast
import difflib
import functools
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zoo.models import BUILDERS, leaf_layers
from zoo.models.variants import FAMILIES
from zoo.weights import NOT_BUNDLED, load_weights


@dataclass(frozen=True)
class ModelSpec:
    name: str
    family: str
    builder: str  # the builder's registered name (zoo.models.register)
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


_SPECS = [
    ModelSpec(
        v.name,
        family,
        f.builder,
        f.input_shape,
        f.num_classes,
        params=v.params,
        macs=v.macs,
        source=v.source,
        kwargs=dict(v.kwargs),
    )
    for family, f in FAMILIES.items()
    for v in f.variants
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


def builders() -> dict:
    """Every registered builder, by name: the families' modules imported (each
    registers its builder; they import Keras)."""
    from zoo.models import cifar_resnet, convnet, linear, mlp, resnet, vgg  # noqa: F401

    return BUILDERS


def builder(name: str):
    """The family's builder function and the registry entry of ``name``."""
    spec = get_spec(name)
    return builders()[spec.builder], spec


PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")


def check_precision(precision: str) -> str:
    """``precision`` if it is a dtype policy zoo builds with, else ``ValueError``."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision={precision!r} must be one of {', '.join(PRECISIONS)}.")
    return precision


@functools.cache
def builder_parameters() -> dict[str, list[str]]:
    """Each registered builder's parameter names, by its registered name, read from
    the families' source (``@register("name")`` over a ``def``) without importing
    them: checking a model argument does not load Keras (``tests/test_registry.py``
    holds these to the builders' signatures)."""
    found = {}
    for path in sorted(Path(__file__).with_name("models").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.FunctionDef):
                continue
            for dec in node.decorator_list:
                if (isinstance(dec, ast.Call) and getattr(dec.func, "id", "") == "register"
                        and dec.args and isinstance(dec.args[0], ast.Constant)):  # fmt: skip
                    args = node.args
                    names = [a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs)]
                    found[dec.args[0].value] = names
    return found


def check_model_args(name: str, arguments: dict) -> list[str]:
    """The arguments ``create_model(name, ...)`` accepts; a ``ValueError`` naming the
    ones in ``arguments`` it does not, without building anything (or loading Keras)."""
    spec = get_spec(name)
    accepted = [p for p in builder_parameters()[spec.builder] if p not in spec.kwargs]
    unknown = sorted(set(arguments) - set(accepted))
    if unknown:
        close = [
            f" {u}: did you mean {m[0]}?"
            for u in unknown
            if (m := difflib.get_close_matches(u, accepted, n=1, cutoff=0.7))
        ]
        raise ValueError(
            f"create_model({name!r}) got unknown argument(s) {', '.join(unknown)};"
            f"{''.join(close)} it accepts: {', '.join(accepted)}."
        )
    return accepted


def create_model(
    name: str,
    precision: str | None = None,
    *,
    weights: str | os.PathLike | None = None,
    **overrides,
):
    """Build registered model ``name`` as a fresh ``keras.Model`` that outputs logits.

    ``overrides`` go to the family's builder (``input_shape``, ``num_classes``,
    ``regularizer``, ``dropout``, ``include_top``, ``pooling``, ``width_multiplier``, ...);
    unset ones take the registry's defaults. An argument the builder does not take
    raises ``ValueError`` listing those it does. ``precision`` is the dtype policy the
    layers are built with (``"float32"``, the default; ``"mixed_bfloat16"``,
    ``"mixed_float16"``, which pay only on hardware with those units:
    ``docs/benchmarks.md``); the logits are float32 whatever it is, and the global
    policy is left as it was.

    ``weights``: the path of a published weight file for a resnet or vgg
    (torchvision's ``.pth``, keras.applications' VGG ``.h5``; ``zoo.weights``), loaded
    into the new model; ``model.loaded_weights`` says what was loaded and what the
    inputs must look like. zoo bundles none: ``weights="imagenet"`` is an error that
    says where to get them.
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
    if weights is not None and not Path(weights).is_file():
        raise FileNotFoundError(f"weights={str(weights)!r} is not a file. {NOT_BUNDLED}")
    try:
        model = build(**arguments)
    finally:
        keras.config.set_dtype_policy(previous)
    if weights is not None:
        model.loaded_weights = load_weights(model, weights)
    return model


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
