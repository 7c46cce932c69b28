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
