"""Training on several devices, or several machines, through Keras' own engines.

``TrainConfig.devices`` (``zoo train --devices N|all``) picks how many of the local
accelerators (or CPU devices) one training run uses; ``distributed`` is the context
the model is built, compiled and trained in:

- JAX: ``keras.distribution.DataParallel`` over the devices: the variables are
  replicated, each global batch is split along its first axis, and the step runs as one
  SPMD program (so BatchNormalization's statistics are those of the global batch).
  Across machines, ``initialize_cluster`` first (``jax.distributed`` through
  ``keras.distribution.initialize``); then ``all`` means every device of every machine
  and each process reads its own share of every global batch.
- TensorFlow: ``tf.distribute.MirroredStrategy`` on one machine (its GPUs, or its CPU
  devices when it has none); BatchNormalization normalizes per replica.
- PyTorch: one device (a ``ValueError`` says so before anything is written).

Semantics, the same everywhere: ``batch_size`` is the global batch (each of N devices
gets ``batch_size / N``, so it must divide evenly) and ``learning_rate`` is the rate
for that global batch, unchanged by N; one epoch is one pass over the training split.
The same run therefore gives the same loss curve on 1 or N devices, up to float
rounding (``tests/test_distribute.py``). Checkpoints and resume work as on one device:
the weights are saved whole, and a run may resume on another number of devices.
"""

from __future__ import annotations

import contextlib
import os

import keras

from zoo.config import check_devices

# Keras' own variables for a multi-machine JAX launch (keras.distribution.initialize)
CLUSTER_VARIABLES = (
    "KERAS_DISTRIBUTION_JOB_ADDRESSES",
    "KERAS_DISTRIBUTION_NUM_PROCESSES",
    "KERAS_DISTRIBUTION_PROCESS_ID",
)


def local_devices(backend: str | None = None) -> list[str]:
    """The devices a run can use on ``backend``: accelerators where there are any,
    else the CPU devices (several only where XLA or TensorFlow was told to make them)."""
    backend = backend or keras.backend.backend()
    if backend == "jax":
        import jax

        return [str(d) for d in jax.devices()]
    if backend == "tensorflow":
        import tensorflow as tf

        found = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return [d.name for d in found]
    return ["cpu"]


def device_count(devices, batch_size: int | None = None, backend: str | None = None) -> int:
    """How many devices ``devices`` means here; ``ValueError`` when there are fewer,
    the backend cannot spread a run, or ``batch_size`` does not divide evenly."""
    devices = check_devices(devices)
    if devices in (None, 1):
        return 1
    backend = backend or keras.backend.backend()
    found = local_devices(backend)
    n = len(found) if devices == "all" else (devices or 1)
    if n == 1:
        return 1
    if backend not in ("jax", "tensorflow"):
        raise ValueError(
            f"devices={devices!r} on the {backend} backend: zoo spreads training over "
            "devices with keras.distribution (JAX) or tf.distribute (TensorFlow). Use "
            "KERAS_BACKEND=jax or tensorflow, or leave --devices out."
        )
    if n > len(found):
        raise ValueError(
            f"devices={devices!r}, but {backend} sees {len(found)} here ({', '.join(found)}). "
            "Ask for fewer, or 'all'."
        )
    if batch_size is not None and batch_size % n:
        raise ValueError(
            f"batch_size={batch_size} is the global batch, split evenly over {n} devices: "
            f"make it a multiple of {n} (e.g. {max(n, batch_size // n * n)})."
        )
    return n


@contextlib.contextmanager
def distributed(devices, batch_size: int | None = None):
    """The context a model is built, compiled and trained in to use ``devices``
    (see the module doc); yields the distribution or strategy (None on one device)."""
    n = device_count(devices, batch_size)
    if n == 1:
        yield None
        return
    if keras.backend.backend() == "jax":
        import jax

        previous = keras.distribution.distribution()
        distribution = keras.distribution.DataParallel(devices=jax.devices()[:n])
        keras.distribution.set_distribution(distribution)
        try:
            yield distribution
        finally:
            keras.distribution.set_distribution(previous)
        return
    import tensorflow as tf

    strategy = tf.distribute.MirroredStrategy(local_devices("tensorflow")[:n])
    with strategy.scope():
        yield strategy


def initialize_cluster(
    coordinator: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
) -> bool:
    """Join a multi-machine JAX run (``keras.distribution.initialize``, which calls
    ``jax.distributed.initialize``): ``coordinator`` is ``host:port`` of process 0;
    each argument left None is read from ``KERAS_DISTRIBUTION_JOB_ADDRESSES``,
    ``KERAS_DISTRIBUTION_NUM_PROCESSES`` and ``KERAS_DISTRIBUTION_PROCESS_ID``. Returns
    whether a cluster was joined (False when neither arguments nor variables ask for
    one). Call it before anything touches a device."""
    asked = any(v is not None for v in (coordinator, num_processes, process_id))
    if not asked and not any(os.environ.get(name) for name in CLUSTER_VARIABLES):
        return False
    if keras.backend.backend() != "jax":
        raise ValueError(
            f"a multi-machine run on the {keras.backend.backend()} backend: zoo runs "
            "several machines on JAX (keras.distribution). Set KERAS_BACKEND=jax."
        )
    keras.distribution.initialize(coordinator, num_processes, process_id)
    return True


def even_batches(dataset, examples: int, devices: int, batch_size: int | None = None):
    """``dataset`` (a batched ``tf.data`` pass over ``examples`` examples) with every
    batch divisible by ``devices``, as JAX's data-parallel step needs: each pass
    leaves out its last ``examples % devices`` examples (fewer than ``devices``; the
    training split is reshuffled every epoch, so not the same ones). TensorFlow's
    strategy splits uneven batches itself, so there the dataset is returned as is.

    Across several JAX processes, Keras shards each global batch between them and
    must know its size: every batch is then ``batch_size`` exactly (the last,
    smaller one of each pass is left out)."""
    if devices < 2 or keras.backend.backend() != "jax":
        return dataset
    import tensorflow as tf

    if batch_size and _processes() > 1:
        # (Keras' own per-process rebatching hides the epoch's length: its first epoch
        # ends with a harmless "Your input ran out of data" warning)
        return dataset.rebatch(batch_size, drop_remainder=True)
    if examples % devices == 0:
        return dataset

    def trim(*batch):  # every batch is read (a cache upstream completes), the last cut
        size = tf.shape(tf.nest.flatten(batch)[0])[0] // devices * devices
        return tf.nest.map_structure(lambda t: t[:size], batch)

    return dataset.map(trim, num_parallel_calls=tf.data.AUTOTUNE)


def _processes() -> int:
    """How many JAX processes this run spans (1 unless ``initialize_cluster`` joined
    one)."""
    import jax

    return jax.process_count()


def single_device_copy(model, build):
    """A model from ``build`` (outside any distribution) holding ``model``'s weights:
    what evaluation and export use after a multi-device run, whose last batches need
    not split evenly."""
    copy = build()
    copy.set_weights(model.get_weights())
    return copy
