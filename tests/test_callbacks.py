import csv

import keras
import numpy as np
import pytest

from zoo import create_model
from zoo.callbacks import (
    DeadUnitMonitor,
    PredictionDynamics,
    check_schedule,
    learning_rate,
    rate_at,
    standard,
)
from zoo.optim import compile_model, get_loss, get_optimizer


def small_data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype("float32")
    return x, (x[:, 0] > 0).astype("int64")


def small_model(lr=1e-2):
    model = create_model("mlp", input_shape=(4,), num_classes=2, hidden=(8,))
    return compile_model(model, "classification", learning_rate=lr)


@pytest.mark.parametrize("name", ["step", "exponential", "cosine"])
def test_schedules_start_at_the_rate_and_decay(name):
    schedule = learning_rate(name, 1e-3, 1000)
    peak = max(rate_at(schedule, s) for s in range(0, 1000, 10))
    assert peak == pytest.approx(1e-3, rel=1e-3)
    assert rate_at(schedule, 999) < 0.05 * peak
    assert check_schedule(schedule, 1000, warn=False) is None  # none dies before halfway
    assert learning_rate("constant", 1e-3) == 1e-3


def test_cosine_warms_up_linearly():
    schedule = learning_rate("cosine", 1e-3, 1000, warmup_steps=100)
    assert rate_at(schedule, 0) == pytest.approx(0.0, abs=1e-9)
    assert rate_at(schedule, 50) == pytest.approx(5e-4, rel=1e-2)
    assert rate_at(schedule, 100) == pytest.approx(1e-3, rel=1e-3)


def test_a_schedule_dead_before_halfway_is_flagged():
    fast = keras.optimizers.schedules.ExponentialDecay(1e-3, decay_steps=50, decay_rate=0.01)
    with pytest.warns(UserWarning, match="below 1% of its peak"):
        assert "before half of the 1000 planned steps" in check_schedule(fast, 1000)


def test_bad_names_are_refused():
    with pytest.raises(ValueError, match="constant, step"):
        learning_rate("linear")
    with pytest.raises(ValueError, match="adam, adamw"):
        get_optimizer("adagrad")
    with pytest.raises(ValueError, match="mae, mse"):
        get_loss("hinge")
    assert get_loss("l1").__class__.__name__ == "MeanAbsoluteError"
    assert get_loss("binary_crossentropy").get_config()["from_logits"] is True


def test_standard_callbacks_log_the_rate_and_write_the_run_folder(tmp_path):
    x, y = small_data()
    model = small_model()
    history = model.fit(
        x, y, validation_data=(x, y), epochs=3, verbose=0, callbacks=standard(tmp_path)
    )
    assert history.history["learning_rate"] == pytest.approx([1e-2] * 3)
    rows = list(csv.DictReader((tmp_path / "history.csv").open()))
    assert len(rows) == 3 and "learning_rate" in rows[0]
    assert (tmp_path / "best.keras").exists() and (tmp_path / "tensorboard").is_dir()
    assert not (tmp_path / "backup").exists()  # removed after a completed run


class Interrupt(keras.callbacks.Callback):
    def __init__(self, at):
        super().__init__()
        self.at = at

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.at:
            raise KeyboardInterrupt


def test_a_killed_run_resumes_from_its_last_epoch(tmp_path):
    x, y = small_data()
    model = small_model()
    with pytest.raises(KeyboardInterrupt):
        model.fit(
            x,
            y,
            validation_data=(x, y),
            epochs=6,
            verbose=0,
            callbacks=standard(tmp_path, patience=100, extra=[Interrupt(2)]),
        )
    assert (tmp_path / "backup").exists()
    resumed = small_model()
    history = resumed.fit(
        x,
        y,
        validation_data=(x, y),
        epochs=6,
        verbose=0,
        callbacks=standard(tmp_path, patience=100),
    )
    # Killed inside epoch 3 before its backup was written: epochs 3-6 run again.
    assert len(history.history["loss"]) == 4
    epochs = [int(r["epoch"]) for r in csv.DictReader((tmp_path / "history.csv").open())]
    assert epochs == [0, 1, 2, 3, 4, 5]


def test_prediction_dynamics_tracks_a_fixed_batch(tmp_path):
    x, y = small_data()
    model = small_model()
    dyn = PredictionDynamics(x[:8], y[:8], path=tmp_path / "dyn.png")
    model.fit(x, y, epochs=5, verbose=0, callbacks=[dyn])
    history = np.array(dyn.history)
    assert history.shape == (6, 8)
    assert history[-1].mean() > history[0].mean()  # the true class grows more likely
    assert (tmp_path / "dyn.png").stat().st_size > 5000


def test_dead_unit_monitor_finds_units_that_never_fire(tmp_path):
    x, y = small_data()
    model = small_model()
    monitor = DeadUnitMonitor(x, path=tmp_path / "dead.png")
    monitor.set_model(model)
    assert max(monitor.measure().values()) < 0.5
    dense = next(la for la in model.layers if isinstance(la, keras.layers.Dense))
    dense.bias.assign(np.full(dense.bias.shape, -100.0))  # every unit off
    monitor._probe = None
    assert max(monitor.measure().values()) == 1.0


def test_dead_units_are_logged_at_the_epochs_they_were_measured(tmp_path):
    """Measured every few epochs, the fraction sits at its own epoch in the history
    (NaN between), so curves.png draws it where it was measured, not at 1, 2, 3."""
    import keras

    from zoo.callbacks import DeadUnitMonitor
    from zoo.plots import plot_history

    x = np.random.default_rng(0).random((64, 4)).astype("float32")
    y = (x[:, 0] > 0.5).astype("int32")
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Dense(8, "relu")(inputs)))
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(x, y, epochs=6, verbose=0, callbacks=[DeadUnitMonitor(x, every=3)])
    dead = history.history["dead_units"]
    assert len(dead) == 6 and [np.isnan(v) for v in dead] == [False, True, False, True, True, False]
    assert plot_history(history.history, tmp_path / "curves.png").stat().st_size > 1000


def test_the_bar_line_is_ended_when_training_stops_before_its_planned_epochs(monkeypatch):
    """On a terminal the epochs show as one bar; stopped early (early stopping, a
    signal), its line is ended, so the summary printed next starts a line of its own."""
    import io
    import sys

    from zoo.callbacks import TimeBudget

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    class StopAt(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            self.model.stop_training = epoch >= 1

    screen = Terminal()
    monkeypatch.setattr(sys, "stdout", screen)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    x = np.zeros((8, 2), "float32")
    model.fit(x, x[:, :1], epochs=10, verbose=0, callbacks=[TimeBudget(10), StopAt()])
    print("2 epochs in 0.1s")
    # the bar was drawn (Keras redraws it at most every 0.05 s: epoch 2 may not show),
    # and its line ended before the summary
    assert "1/10" in screen.getvalue() and "\n2 epochs in 0.1s" in screen.getvalue()


def test_dead_unit_monitor_measures_a_sequential_given_no_input():
    """A Sequential built by `fit` (no `keras.Input`) has no `model.input` to cut a
    probe from: its layers are called in turn, and the dead units still counted."""
    from zoo.callbacks import DeadUnitMonitor

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.layers.Dense(8, activation="relu", name="hidden"),
                              keras.layers.Dense(1)])  # fmt: skip
    model.compile("sgd", "mse")
    x = np.random.default_rng(0).random((32, 3)).astype("float32")
    monitor = DeadUnitMonitor(x[:8])
    model.fit(x, x[:, :1], epochs=2, verbose=0, callbacks=[monitor])
    assert set(monitor.fractions) == {"hidden"} and 0 <= monitor.fractions["hidden"] <= 1
