"""One module per model family (a table of variants and one builder), and what every
model shares: ``leaf_layers``."""

from __future__ import annotations


def leaf_layers(model):
    """Every layer of ``model``, descending into nested models (a backbone inside a
    Functional model, a Sequential inside a Sequential)."""
    for layer in model.layers:
        if hasattr(layer, "layers") and layer.layers:
            yield from leaf_layers(layer)
        else:
            yield layer
