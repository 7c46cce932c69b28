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


# The longest tests (end-to-end runs in fresh processes) start first, so that with
# several pytest workers (pyproject.toml: -n) no worker is left with them at the end.
LONG_FIRST = ("test_templates.py", "test_tuning.py", "test_export.py", "test_cli.py")


def pytest_collection_modifyitems(items):
    def rank(item):
        name = item.path.name
        return LONG_FIRST.index(name) if name in LONG_FIRST else len(LONG_FIRST)

    items.sort(key=rank)  # stable: the order within a file is kept
