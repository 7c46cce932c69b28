"""Optimizers and losses by name, and ``compile_model``, which pairs a logits model with
the loss and metrics its task needs.

Optimizers: ``adam`` (3e-4, the recipe's "safe" default), ``adamw`` (weight decay
1e-4), ``sgd`` (Nesterov momentum 0.9), ``rmsprop``. Losses: ``mae`` (L1), ``mse``
(L2), ``huber``, ``binary_crossentropy``, ``categorical_crossentropy``,
``sparse_categorical_crossentropy``; the cross-entropies always take logits, because
zoo models output logits.
"""

from __future__ import annotations

import keras

from zoo.config import DEFAULTS, check_steps_per_execution

OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop")
LOSSES = (
    "mae",
    "mse",
    "huber",
    "binary_crossentropy",
    "categorical_crossentropy",
    "sparse_categorical_crossentropy",
)
ALIASES = {"l1": "mae", "l2": "mse", "bce": "binary_crossentropy"}


def get_optimizer(
    name: str = DEFAULTS.optimizer,
    learning_rate=DEFAULTS.learning_rate,
    *,
    weight_decay: float | None = None,
    momentum: float = 0.9,
    clipnorm: float | None = None,
):
    """A Keras optimizer by name; ``learning_rate`` is a float or a schedule.
    ``clipnorm`` clips each gradient's norm (clip gradients, never the loss)."""
    opt = keras.optimizers
    name = str(name).lower()
    common = {"learning_rate": learning_rate, "clipnorm": clipnorm}
    if name == "adam":
        return opt.Adam(**common, weight_decay=weight_decay)
    if name == "adamw":
        return opt.AdamW(**common, weight_decay=1e-4 if weight_decay is None else weight_decay)
    if name == "sgd":
        return opt.SGD(**common, momentum=momentum, nesterov=True, weight_decay=weight_decay)
    if name == "rmsprop":
        return opt.RMSprop(**common, weight_decay=weight_decay)
    raise ValueError(f"optimizer={name!r} is not one of {', '.join(OPTIMIZERS)}.")


def get_loss(name: str, *, huber_delta: float = 1.0):
    """A Keras loss by name; cross-entropies take logits."""
    losses = keras.losses
    key = ALIASES.get(str(name).lower(), str(name).lower())
    makers = {
        "mae": lambda: losses.MeanAbsoluteError(),
        "mse": lambda: losses.MeanSquaredError(),
        "huber": lambda: losses.Huber(delta=huber_delta),
        "binary_crossentropy": lambda: losses.BinaryCrossentropy(from_logits=True),
        "categorical_crossentropy": lambda: losses.CategoricalCrossentropy(from_logits=True),
        "sparse_categorical_crossentropy": lambda: losses.SparseCategoricalCrossentropy(
            from_logits=True
        ),
    }
    if key not in makers:
        raise ValueError(f"loss={name!r} is not one of {', '.join(LOSSES)} (or l1, l2).")
    return makers[key]()


def default_loss(task: str, num_outputs: int) -> str:
    if task == "regression":
        return "mse"
    return "binary_crossentropy" if num_outputs == 1 else "sparse_categorical_crossentropy"


def compile_model(
    model,
    task: str = "classification",
    *,
    optimizer: str = DEFAULTS.optimizer,
    learning_rate=DEFAULTS.learning_rate,
    loss: str | None = None,
    weight_decay: float | None = None,
    clipnorm: float | None = None,
    jit_compile: bool | str = "auto",
    data_loss_metric: bool = False,
    steps_per_execution: int = 1,
):
    """Compile a logits ``model`` for ``task``: the loss (default: sparse
    cross-entropy, binary cross-entropy for one output, MSE for regression), the
    optimizer, and metrics (accuracy; MAE for regression). ``jit_compile="auto"``
    picks per backend (``default_jit_compile``); True or False as given wins.
    ``data_loss_metric`` also logs
    ``data_loss``: the loss without the regularization penalties that ``loss``
    includes, so that models with different L1/L2 strengths compare fairly (the
    tuner's objective). ``steps_per_execution`` runs that many training steps per
    call into TensorFlow (batch-level callbacks then see every N-th step). Returns
    the model."""
    if task not in ("classification", "regression"):
        raise ValueError(f'task={task!r} must be "classification" or "regression".')
    check_steps_per_execution(steps_per_execution)
    outputs = model.output_shape[-1]
    loss = loss or default_loss(task, outputs)
    loss_fn = get_loss(loss)
    if task == "regression":
        metrics = [keras.metrics.MeanAbsoluteError(name="mae")]
    elif isinstance(loss_fn, keras.losses.BinaryCrossentropy):
        metrics = [keras.metrics.BinaryAccuracy(name="accuracy", threshold=0.0)]
    elif isinstance(loss_fn, keras.losses.CategoricalCrossentropy):
        metrics = [keras.metrics.CategoricalAccuracy(name="accuracy")]
    else:
        metrics = [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
    if data_loss_metric:
        metrics.append(_data_loss_metric(loss_fn))
    model.compile(
        optimizer=get_optimizer(
            optimizer, learning_rate, weight_decay=weight_decay, clipnorm=clipnorm
        ),
        loss=loss_fn,
        metrics=metrics,
        jit_compile=default_jit_compile() if jit_compile == "auto" else jit_compile,
        steps_per_execution=steps_per_execution,
    )
    return model


def default_jit_compile(backend: str | None = None) -> bool:
    """Whether zoo compiles the training step with XLA on ``backend`` (default: the
    running one). JAX: yes (without ``jax.jit`` a digits epoch takes 11.2 s instead of
    1.3 s on a 2-core CPU, and ResNet-50 trains 27x slower on an H200). TensorFlow: no
    (its XLA build is slower than plain TensorFlow on the CPUs measured). PyTorch: no
    (Keras' ``torch.compile`` path is not what zoo measured)."""
    return (backend or keras.backend.backend()) == "jax"


def _data_loss_metric(loss_fn):
    """A metric equal to ``loss_fn`` (example-weighted over an epoch), without the
    regularization penalties that the reported ``loss`` adds."""
    logits = bool(getattr(loss_fn, "from_logits", False))
    pairs = (
        (keras.losses.SparseCategoricalCrossentropy, keras.metrics.SparseCategoricalCrossentropy),
        (keras.losses.CategoricalCrossentropy, keras.metrics.CategoricalCrossentropy),
        (keras.losses.BinaryCrossentropy, keras.metrics.BinaryCrossentropy),
    )
    for loss_class, metric_class in pairs:
        if isinstance(loss_fn, loss_class):
            return metric_class(from_logits=logits, name="data_loss")
    if isinstance(loss_fn, keras.losses.MeanSquaredError):
        return keras.metrics.MeanSquaredError(name="data_loss")
    if isinstance(loss_fn, keras.losses.MeanAbsoluteError):
        return keras.metrics.MeanAbsoluteError(name="data_loss")
    return keras.metrics.MeanMetricWrapper(loss_fn.call, name="data_loss")
