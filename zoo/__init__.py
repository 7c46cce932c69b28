"""zoo: a Keras 3 model zoo and training templates that run the recipe's sanity checks.

Importing ``zoo`` is cheap: TensorFlow and Keras load only when a model is built or
trained. Importing it before TensorFlow turns on TensorFlow's oneDNN CPU kernels where
TensorFlow would leave them off (``zoo.backend``; ``TF_ENABLE_ONEDNN_OPTS=0`` keeps
them off).
"""

from zoo.backend import prefer_onednn

prefer_onednn()

from zoo.registry import (  # noqa: E402
    count_macs,
    count_params,
    create_model,
    list_models,
    load_model,
    model_info,
)

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "count_macs",
    "check",
    "count_params",
    "create_model",
    "evaluate",
    "list_models",
    "load_model",
    "load_network",
    "model_info",
]


def __getattr__(name: str):
    if name == "evaluate":  # zoo.evaluate(model, dataset, metadata, run_dir)
        from zoo.evaluation import evaluate

        return evaluate
    if name == "check":  # zoo.check(model, x, y, ...): the checks on any compiled model
        from zoo.checks.program import check

        return check
    if name == "load_network":  # the trained network inside a run's model.keras
        from zoo.packaged import load_network

        return load_network
    raise AttributeError(f"module 'zoo' has no attribute {name!r}")
