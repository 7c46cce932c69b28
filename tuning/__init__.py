"""Keras Tuner hypermodels and random search over zoo models (``zoo tune``).

This package depends on ``zoo``; nothing in ``zoo`` imports it.
"""

import zoo  # noqa: F401  (before Keras Tuner loads TensorFlow: zoo.backend)
