"""The search spaces, in one readable place.

One entry per zoo family; each hyperparameter is a tuple:

- ``("log", low, high)``: log-uniform float (learning rates, L1/L2 strengths: the notes'
  advice is to search these on a log scale),
- ``("float", low, high)``: uniform float (dropout),
- ``("int", low, high)``: uniform integer (depth),
- ``("choice", [a, b, ...])``: one of the values (optimizer, width, batch size),
- ``("fixed", value)``: not searched.

Narrow or widen a space without editing this file: ``zoo tune --space
learning_rate=1e-4:1e-3 --space optimizer=adam,sgd --space dropout=0.2`` or
``random_search(..., space={"dropout": ("fixed", 0.2)})``; see ``parse_space``.
"""

from __future__ import annotations

from typing import Any

from zoo.registry import get_spec

COMMON: dict[str, tuple] = {
    "learning_rate": ("log", 1e-4, 1e-2),
    "optimizer": ("choice", ["adam", "adamw", "sgd", "rmsprop"]),
    "dropout": ("float", 0.0, 0.5),
    "l1": ("log", 1e-7, 1e-3),
    "l2": ("log", 1e-7, 1e-2),
    "batch_size": ("choice", [16, 32, 64, 128]),
}

SPACES: dict[str, dict[str, tuple]] = {
    "mlp": {
        **COMMON,
        "width": ("choice", [32, 64, 128, 256, 512]),
        "depth": ("int", 1, 3),
    },
    "convnet": {
        **COMMON,
        "width_multiplier": ("choice", [0.25, 0.5, 1.0, 2.0]),
        "depth": ("int", 1, 3),  # conv layers per stage
    },
    "cifar_resnet": {
        **COMMON,
        "depth": ("choice", [20, 32, 44, 56]),
        "width_multiplier": ("choice", [0.5, 1.0, 2.0]),
    },
    "vgg": {
        **COMMON,
        "depth": ("choice", [11, 13, 16, 19]),
        "batch_norm": ("choice", [True, False]),
        "width_multiplier": ("choice", [0.125, 0.25, 0.5]),
        "hidden": ("choice", [256, 512, 1024]),
    },
}


def family_of(model: str) -> str:
    """The space a registered model name searches (``cifar_resnet20`` -> cifar_resnet)."""
    family = get_spec(model).family
    if family not in SPACES:
        raise ValueError(
            f"model {model!r} (family {family!r}) has no search space; tunable families: "
            f"{', '.join(SPACES)}."
        )
    return family


def _number(text: str, name: str) -> Any:
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    return text


def parse_space(items: list[str] | None, base: dict[str, tuple]) -> dict[str, tuple]:
    """``NAME=LOW:HIGH`` (a range, log-scaled where the base entry is), ``NAME=A,B,C``
    (choices) or ``NAME=VALUE`` (fixed), applied over ``base``; an unknown name or a
    malformed value is an error naming it and what is accepted."""
    space = dict(base)
    for item in items or []:
        name, sep, value = item.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or not value:
            raise ValueError(f"--space {item!r}: write NAME=LOW:HIGH, NAME=A,B,C or NAME=VALUE.")
        if name not in space:
            raise ValueError(
                f"--space {item!r}: {name!r} is not in this space; it has {', '.join(space)}."
            )
        kind = space[name][0]
        if ":" in value:
            low, high = (_number(v, name) for v in value.split(":", 1))
            if not all(isinstance(v, int | float) for v in (low, high)) or low >= high:
                raise ValueError(f"--space {item!r}: a range needs two numbers, low < high.")
            if kind == "log" and low <= 0:
                raise ValueError(f"--space {item!r}: {name} is log-scaled; low must be > 0.")
            if kind == "int":
                space[name] = ("int", int(low), int(high))
            else:
                space[name] = ("log" if kind == "log" else "float", float(low), float(high))
        elif "," in value:
            space[name] = ("choice", [_number(v.strip(), name) for v in value.split(",")])
        else:
            space[name] = ("fixed", _number(value, name))
    return space


def sample(hp, space: dict[str, tuple]) -> dict[str, Any]:
    """Declare every entry of ``space`` on a Keras Tuner ``HyperParameters`` and return
    the values this trial got."""
    values = {}
    for name, spec in space.items():
        kind = spec[0]
        if kind == "log":
            values[name] = hp.Float(name, spec[1], spec[2], sampling="log")
        elif kind == "float":
            values[name] = hp.Float(name, spec[1], spec[2])
        elif kind == "int":
            values[name] = hp.Int(name, spec[1], spec[2])
        elif kind == "choice":
            values[name] = hp.Choice(name, list(spec[1]))
        elif kind == "fixed":
            values[name] = hp.Fixed(name, spec[1])
        else:
            raise ValueError(f"space entry {name}={spec!r}: unknown kind {kind!r}.")
    return values


def describe(space: dict[str, tuple]) -> str:
    """One line per hyperparameter, for ``zoo tune --show-space``."""
    out = []
    for name, spec in space.items():
        kind = spec[0]
        if kind in ("log", "float", "int"):
            scale = " (log scale)" if kind == "log" else ""
            out.append(f"{name}: {spec[1]:g} to {spec[2]:g}{scale}")
        elif kind == "choice":
            out.append(f"{name}: one of {', '.join(map(str, spec[1]))}")
        else:
            out.append(f"{name}: fixed at {spec[1]}")
    return "\n".join(out)
