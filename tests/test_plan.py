"""Settings chosen from the data, the time budget and the progress over epochs
(``zoo.plan``, ``zoo.callbacks.TimeBudget``), on stand-ins and tiny folders."""

import time
from dataclasses import replace

import keras
import numpy as np
import pytest

from zoo import plan
from zoo.callbacks import TimeBudget
from zoo.config import TrainConfig, parse_duration, validate
from zoo.data.pipeline import DataInfo


def info(shape=(28, 28, 1), train=48_000, val=6_000, test=6_000):
    return DataInfo(
        "folder",
        "classification",
        shape,
        [str(i) for i in range(10)],
        [],
        {"train": train, "val": val, "test": test},
    )


@pytest.mark.parametrize(
    "text, seconds",
    [("10m", 600), ("90", 90), ("90s", 90), ("1h30m", 5400), ("1.5h", 5400), (" 2m 30s ", 150)],
)
def test_durations_read_as_people_write_them(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["ten minutes", "10 min", "", "0", "-5m", "m"])
def test_a_duration_that_cannot_be_read_names_the_forms(text):
    with pytest.raises(ValueError, match="time budget"):
        parse_duration(text)


def test_a_large_image_set_gets_larger_batches_and_bfloat16_where_it_pays(monkeypatch):
    monkeypatch.setattr(plan, "bfloat16_units", lambda: "AMX")
    config, chosen = plan.choose(TrainConfig(data="folder"), info())
    assert (config.model, config.batch_size, config.precision) == (
        "convnet",
        128,
        "mixed_bfloat16",
    )
    assert config.schedule == "constant" and config.learning_rate == 3e-4  # no budget
    assert {c.setting for c in chosen} == {"model", "batch_size", "precision"}
    assert all(c.why for c in chosen) and "AMX" in chosen[-1].line()
    monkeypatch.setattr(plan, "bfloat16_units", lambda: None)  # e.g. an AVX2-only CPU
    assert plan.choose(TrainConfig(data="folder"), info())[0].precision is None


def test_a_time_budget_brings_the_cosine_schedule_and_the_users_flags_win(monkeypatch):
    monkeypatch.setattr(plan, "bfloat16_units", lambda: None)
    budgeted = TrainConfig(data="folder", time_budget=600)
    config, _ = plan.choose(budgeted, info())
    assert (config.schedule, config.learning_rate) == ("cosine", 2e-3)
    given = replace(budgeted, batch_size=64, schedule="constant", learning_rate=1e-3)
    kept, chosen = plan.choose(given, info(), {"batch_size", "schedule", "learning_rate"})
    assert (kept.batch_size, kept.schedule, kept.learning_rate) == (64, "constant", 1e-3)
    assert [c.setting for c in chosen] == ["model"]
    sgd, _ = plan.choose(replace(budgeted, optimizer="sgd"), info(), {"optimizer"})
    assert (sgd.schedule, sgd.learning_rate) == ("cosine", 3e-4)  # 2e-3 is Adam's peak


def test_small_and_tabular_data_keep_the_recipes_defaults(monkeypatch):
    monkeypatch.setattr(plan, "bfloat16_units", lambda: "AMX")
    small, chosen = plan.choose(TrainConfig(), info((8, 8, 1), 1437, 180, 180))
    assert (small, chosen) == (TrainConfig(), [])
    tabular = DataInfo("wine", "classification", (13,), ["a", "b", "c"], [], info().num_examples)
    assert plan.choose(TrainConfig(data="wine"), tabular) == (TrainConfig(data="wine"), [])


def test_large_images_get_a_strided_resnet_at_half_width(monkeypatch):
    monkeypatch.setattr(plan, "bfloat16_units", lambda: None)
    config, _ = plan.choose(TrainConfig(data="folder"), info((160, 160, 3), 20_000))
    assert config.model == "resnet18"
    assert config.model_kwargs == {"width_multiplier": 0.5}
    validate(config)


def test_epochs_fit_the_time_left_and_the_plan_says_so():
    # 12,800 images at batch 128: 100 steps of 0.1 s, 10 validation batches, callbacks
    p = plan.plan_epochs(0.1, info(train=12_800, val=1_280), 128, 120.0)
    assert p.epoch_seconds == pytest.approx(10 + 10 * 0.1 / 3 + 1)
    assert p.epochs == 10 and "10 epoch(s) of about 11s" in p.line()  # 120 // 11.3
    assert plan.plan_epochs(0.1, info(train=12_800), 128, 3.0).epochs == 1  # at least one
    assert plan.plan_epochs(0.1, info(train=12_800), 128, 1e6, most=7).epochs == 7


def test_augmentation_comes_with_epochs_enough_for_it():
    config = TrainConfig(data="folder")
    assert plan.augment_for(config, plan.AUGMENT_FROM_EPOCHS - 1, set())[0].augment is None
    with_aug, chosen = plan.augment_for(config, plan.AUGMENT_FROM_EPOCHS, set())
    assert with_aug.augment == "translate" and "epochs planned" in chosen[0].why
    assert plan.augment_for(config, 50, {"augment"})[0].augment is None  # the user's "none"


def test_estimates_grow_with_the_work():
    step = 0.05
    assert plan.checks_seconds(step, 128, 32) < plan.checks_seconds(step, 32, 32)
    after = plan.after_training_seconds(step, info(), 128)
    assert after < plan.after_training_seconds(step, info(), 128, ("tflite", "tflite_int8"))


class _Slow(keras.callbacks.Callback):
    def __init__(self, seconds: float = 0.3):
        super().__init__()
        self.seconds = seconds

    def on_epoch_end(self, epoch, logs=None):
        time.sleep(self.seconds)


def test_the_plan_follows_the_measured_epochs_and_stretches_the_cosine():
    """Planned 2 epochs before training, but they turn out fast: the plan grows to
    what fits the deadline, and the cosine schedule ends at the new last epoch."""
    from zoo.callbacks import LearningRateLogger, learning_rate

    x, y = np.zeros((64, 4)), np.zeros((64, 2))
    schedule = learning_rate("cosine", 1e-2, total_steps=2 * 8)  # 2 epochs of 8 steps
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    model.compile(keras.optimizers.SGD(schedule), "mse")
    budget = TimeBudget(
        2, deadline=time.perf_counter() + 60.0, most=6, steps_per_epoch=8, show=False
    )
    callbacks = [_Slow(0.1), LearningRateLogger(), budget]
    history = model.fit(x, y, batch_size=8, epochs=6, verbose=0, callbacks=callbacks)
    assert budget.plans[0] == 2 and budget.epochs == 6  # grew to the cap
    assert len(history.history["loss"]) == 6 and not budget.stopped_early
    assert schedule.decay_steps + schedule.warmup_steps == 6 * 8  # ends with the last epoch
    lr = history.history["learning_rate"]
    assert lr[-1] < 0.05 * max(lr)  # decayed to (nearly) zero at the end, not cut at epoch 2


def test_time_budget_stops_before_the_deadline_and_keeps_the_bar(capsys):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    model.compile("sgd", "mse")
    x, y = np.zeros((8, 4)), np.zeros((8, 2))
    budget = TimeBudget(50, deadline=time.perf_counter() + 1.0)
    start = time.perf_counter()
    history = model.fit(x, y, epochs=50, verbose=0, callbacks=[_Slow(), budget])
    assert budget.stopped_early and 1 <= len(history.history["loss"]) <= 4
    assert time.perf_counter() - start < 1.5
    out = capsys.readouterr().out
    assert "epoch 1/" in out and "epochs fit the time budget (planned 50 before training" in out
    quiet = TimeBudget(3, show=False)
    model.fit(x, y, epochs=3, verbose=0, callbacks=[quiet])
    assert not quiet.stopped_early and len(quiet.times) == 3
    assert "/3" not in capsys.readouterr().out


@pytest.mark.slow
def test_recipe_on_a_folder_plans_its_stages_and_records_the_plan(
    tmp_path, capsys, image_folder
):
    import json

    from zoo.recipe.main import run_recipe

    config = TrainConfig(data=str(image_folder(n=15)), model="tiny_convnet", time_budget=120)
    result = run_recipe(config, tmp_path / "r", keep={"model"}, progress=True)
    out = capsys.readouterr().out
    assert "sanity checks (about" in out and "a training step takes" in out
    assert "time budget 2 min 0 s:" in out
    assert result["passed"] and result["total_seconds"] < 120
    metrics = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert metrics["chosen"]["schedule"]["value"] == "cosine"
    assert metrics["plan"]["epochs"] >= 1 and metrics["plan"]["training_began"] > 0
    history = (tmp_path / "r" / "history.csv").read_text().splitlines()
    assert "seconds" in history[0]


def test_a_budget_too_short_for_full_width_halves_the_convnet():
    config = TrainConfig(data="folder", model="convnet", batch_size=128)
    data = info(train=12_800, val=1_280)  # an epoch: 100 steps of 0.1 s and a bit
    narrow, chosen = plan.narrower_for(config, 0.1, data, 40.0, set())  # 3.5 epochs fit
    assert narrow.model_kwargs == {"width_multiplier": 0.5}
    assert "about 3.5 epochs would fit" in chosen[0].why
    assert plan.narrower_for(config, 0.1, data, 120.0, set()) == (config, [])  # 10 fit
    assert plan.narrower_for(config, 0.1, data, 40.0, {"model_kwargs"}) == (config, [])
    given = replace(config, model_kwargs={"dropout": 0.2})  # the user's model arguments
    assert plan.narrower_for(given, 0.1, data, 40.0, set()) == (given, [])
    mlp = replace(config, model="mlp")  # no width to halve
    assert plan.narrower_for(mlp, 0.1, data, 40.0, set()) == (mlp, [])


def test_lr_range_test_sweeps_smooths_stops_and_suggests(tmp_path):
    """The range test on iris' MLP: the rate grows exponentially step by step, the
    sweep stops once the smoothed loss blows up, and the suggestion (a tenth of the
    rate at the lowest smoothed loss) lies below where it blew up; zoo lr-find writes
    the plot and the numbers."""
    import json

    from zoo.cli import main
    from zoo.lr_find import lr_find
    from zoo.run import load_for
    from zoo.train import build_fn

    config, loaded = load_for(TrainConfig(data="iris", model="mlp"))
    test = lr_find(build_fn(config, loaded), loaded.train, steps=150)
    ratios = np.array(test.rates[1:]) / np.array(test.rates[:-1])
    assert np.allclose(ratios, ratios[0]) and ratios[0] > 1
    assert "blew up" in test.stopped and len(test.rates) < 150
    assert test.rates[0] < test.suggestion < test.rates[-1] / 10
    low = int(np.argmin(test.smoothed))
    assert test.suggestion == pytest.approx(test.rates[low] / 10)
    assert main(["lr-find", "iris", "--steps", "120", "--run-dir", str(tmp_path / "lr")]) == 0
    saved = json.loads((tmp_path / "lr" / "lr_find.json").read_text())
    assert saved["suggestion"] > 0 and "lr_min" in saved["rule"]
    assert (tmp_path / "lr" / "lr_find.png").stat().st_size > 1000
