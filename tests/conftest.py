import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import pytest  # noqa: E402

import zoo  # noqa: E402, F401  (before TensorFlow loads, as a user's import would: zoo.backend)


@pytest.fixture(autouse=True)
def _fresh_keras_state():
    """Each test starts from a fixed seed and the float32 policy."""
    import keras

    keras.utils.set_random_seed(1234)
    keras.config.set_dtype_policy("float32")
    yield
    keras.config.set_dtype_policy("float32")
    # Without the forced garbage collection (0.25 s a test here); Python's own
    # collector still frees what the test left.
    keras.backend.clear_session(free_memory=False)


@pytest.fixture
def image_folder(tmp_path):
    """Make ``tmp_path/img/c<k>/<i>.png``: ``n`` gray ``size``x``size`` images per class,
    class k of mean brightness 90 + 120 k (two classes a model tells apart at once)."""

    def make(n: int = 12, size: int = 12, classes: int = 2):
        import numpy as np
        from PIL import Image

        rng = np.random.default_rng(0)
        root = tmp_path / "img"
        for c in range(classes):
            (root / f"c{c}").mkdir(parents=True, exist_ok=True)
            for i in range(n):
                pixels = rng.integers(0, 60, (size, size)) + 60 + 120 * c
                Image.fromarray(pixels.astype("uint8")).save(root / f"c{c}" / f"{i}.png")
        return root

    return make


# The longest tests (end-to-end runs in fresh processes) start first, so that with
# several pytest workers (pyproject.toml: -n) no worker is left with them at the end.
LONG_FIRST = ("test_templates.py", "test_tuning.py", "test_export.py", "test_cli.py")


def pytest_collection_modifyitems(items):
    def rank(item):
        name = item.path.name
        return LONG_FIRST.index(name) if name in LONG_FIRST else len(LONG_FIRST)

    items.sort(key=rank)  # stable: the order within a file is kept
