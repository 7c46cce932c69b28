"""One module per model family: its builder, registered here by ``register``; every
family's layouts and figures in one table (``variants``); and what every model
shares: ``leaf_layers``. ``zoo.registry`` names each variant and builds it."""

from __future__ import annotations

from collections.abc import Callable

#: The builders, by the name a family's table gives (``variants.Family.builder``).
BUILDERS: dict[str, Callable] = {}


def register(name: str) -> Callable[[Callable], Callable]:
    """Decorator: ``builder`` becomes the registry's builder ``name``."""

    def add(builder: Callable) -> Callable:
        if BUILDERS.get(name, builder) is not builder:
            raise ValueError(f"two builders registered as {name!r}")
        BUILDERS[name] = builder
        return builder

    return add


def leaf_layers(model):
    """Every layer of ``model``, descending into nested models (a backbone inside a
    Functional model, a Sequential inside a Sequential)."""
    for layer in model.layers:
        if hasattr(layer, "layers") and layer.layers:
            yield from leaf_layers(layer)
        else:
            yield layer
