"""What zoo sets up before TensorFlow loads: TensorFlow's oneDNN CPU kernels.

TensorFlow turns its oneDNN kernels on by itself only on x86 CPUs with AVX-512 VNNI,
bfloat16 or AMX units; on others (AVX2 machines, most AMD EPYCs among them) it runs
convolutions through Eigen. There, oneDNN trains zoo's ResNets 1.3-2.1x faster and runs
their inference 1.1-1.4x faster (``benchmarks/speed.py``, part ``onednn``), so
importing ``zoo`` sets ``TF_ENABLE_ONEDNN_OPTS=1`` when three things hold: the machine
is x86-64, the variable is not set already (set it to ``0`` to keep Eigen), and
TensorFlow has not been imported yet (it reads the variable once, at import: import
zoo before keras or tensorflow to get it).
"""

from __future__ import annotations

import os
import platform
import sys
import tempfile

ONEDNN_VARIABLE = "TF_ENABLE_ONEDNN_OPTS"


def prefer_onednn() -> bool:
    """Set ``TF_ENABLE_ONEDNN_OPTS=1`` if it is unset, TensorFlow is not loaded yet and
    the machine is x86-64; returns whether it set it."""
    if ONEDNN_VARIABLE in os.environ or "tensorflow" in sys.modules:
        return False
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return False  # oneDNN on ARM goes through other kernels, not measured here
    os.environ[ONEDNN_VARIABLE] = "1"
    return True


def onednn_enabled() -> bool | None:
    """Whether the loaded TensorFlow runs its oneDNN kernels (None if it cannot tell)."""
    try:
        from tensorflow.python.util import _pywrap_util_port
    except ImportError:
        return None
    return bool(_pywrap_util_port.IsMklEnabled())


#: TensorFlow's start-up lines, logged at import by absl before TF_CPP_MIN_LOG_LEVEL is
#: read (tensorflow/tensorflow#100442): INFO lines, absl's preamble, the CPU-flags note.
STARTUP_NOISE = (
    "WARNING: All log messages before absl::InitializeLog() is called",
    "I0000 ",
    "To enable the following instructions:",
)


def import_tensorflow_quietly() -> None:
    """Import TensorFlow with its start-up INFO lines held back (``zoo``'s commands;
    ``TF_CPP_MIN_LOG_LEVEL=0`` keeps them): the C++ side writes them to file
    descriptor 2 while TensorFlow loads, so it points at a temporary file then, and
    every other line written meanwhile (a warning, an error) is written back to
    stderr as it was. Does nothing if TensorFlow is loaded or not installed."""
    if "tensorflow" in sys.modules or os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0") == "0":
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            import tensorflow  # noqa: F401
        except ImportError:
            pass
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            lines = held.read().decode(errors="replace").splitlines(keepends=True)
            kept = [line for line in lines if not line.startswith(STARTUP_NOISE)]
            if kept:
                sys.stderr.write("".join(kept))
                sys.stderr.flush()
