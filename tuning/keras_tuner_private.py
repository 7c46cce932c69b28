"""The one place zoo reaches into Keras Tuner's private modules (``keras_tuner.src``).

Why: Keras Tuner's public API has no way to
- serve an oracle over gRPC from a process that also supervises local workers (the
  public path, ``KERASTUNER_TUNER_ID=chief``, blocks in ``tuner.search`` and serves
  nothing else): ``protos`` and ``OracleServicer`` are what its own chief runs;
- attach the callback that reports a trial's epochs to the oracle when overriding
  ``Tuner.run_trial`` (``TunerCallback`` is what ``Tuner.run_trial`` itself adds).

These names are checked against the installed Keras Tuner by
``tests/test_tuning.py::test_private_keras_tuner_names_exist`` (tested with the
version pyproject.toml pins as its lower bound, 1.4.8), so an upgrade that moves them
fails there, not in the middle of a search.
"""

from __future__ import annotations

from keras_tuner.src import protos
from keras_tuner.src.distribute.oracle_chief import OracleServicer
from keras_tuner.src.engine.tuner_utils import TunerCallback

__all__ = ["OracleServicer", "TunerCallback", "protos", "oracle_service"]


def oracle_service():
    """Keras Tuner's generated gRPC module (``add_OracleServicer_to_server``)."""
    return protos.get_service_grpc()
