"""zoo's Keras Tuner classes: an oracle that says a line per trial and puts a dead
worker's trial back in the queue (``QueueingOracle``, over random or grid search), and
a tuner that keeps no weights per trial but the time and memory each took
(``RecordingTuner``). ``make_tuner`` pairs them for an algorithm.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import keras_tuner
from keras_tuner import oracles

from tuning.keras_tuner_private import TunerCallback
from zoo.runfolder import write_json

ALGORITHMS = ("random", "grid")
ENDED = ("COMPLETED", "FAILED", "INVALID")
TRIAL_RECORD = "zoo.json"  # beside Keras Tuner's trial.json: seconds, memory, worker


def resident_mb() -> float | None:
    """This process's resident memory in MiB (Linux ``/proc``), or None elsewhere."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def trial_record(project_dir, trial_id) -> dict:
    """What ``RecordingTuner`` kept of a trial (``{}`` when the trial ran on a machine
    that does not share this disk)."""
    try:
        return json.loads((Path(project_dir) / f"trial_{trial_id}" / TRIAL_RECORD).read_text())
    except (OSError, ValueError):
        return {}


def fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.3g}"
    return str(v)


class QueueingOracle:
    """Mixed into a Keras Tuner oracle: a line per ended trial (through ``say``), a
    restarted worker takes back its trial from the start, a dead worker's trial goes
    back in the queue (``release``), and a resumed search re-runs the trials that were
    running when it was killed without averaging in their partial metrics."""

    say = staticmethod(print)

    @keras_tuner.synchronized
    def end_trial(self, trial):
        super().end_trial(trial)
        self._announce(self.trials[trial.trial_id])

    def _announce(self, trial):
        ended = [t for t in self.trials.values() if t.status in ENDED]
        best = self.get_best_trials(1)
        best_score = best[0].score if best else None
        values = ", ".join(f"{k}={fmt(v)}" for k, v in trial.hyperparameters.values.items())
        score = trial.status.lower() if trial.score is None else f"{trial.score:.4f}"
        extra = trial_record(self._project_dir, trial.trial_id)
        where = f", {extra['worker']}" if extra.get("worker", "tuner0") != "tuner0" else ""
        took = f" in {extra['seconds']:.1f}s{where}" if "seconds" in extra else ""
        self.say(
            f"trial {len(ended)}/{self.max_trials} [{trial.trial_id}]: {values} -> "
            f"{self.objective.name} {score}{took} (best so far "
            f"{'-' if best_score is None else f'{best_score:.4f}'})"
        )

    @keras_tuner.synchronized
    def create_trial(self, tuner_id):
        if tuner_id in self.ongoing_trials:
            # A worker restarted under the same ID takes back the trial it held, from
            # the start: the dead run's metrics would be averaged in.
            held = self.ongoing_trials[tuner_id]
            held.metrics = type(held.metrics)()
        return super().create_trial(tuner_id)

    @keras_tuner.synchronized
    def release(self, tuner_id: str) -> str | None:
        """Forget worker ``tuner_id`` (it died); its running trial, if any, goes back
        to the front of the queue with its partial metrics cleared. Returns that
        trial's id."""
        self.tuner_ids.discard(tuner_id)
        trial = self.ongoing_trials.pop(tuner_id, None)
        if trial is None:
            return None
        trial.metrics = type(trial.metrics)()
        self._retry_queue.append(trial.trial_id)
        self.save()
        return trial.trial_id

    def reload(self):
        super().reload()
        # Trials that were running when the search was killed are re-run from the
        # start: drop the metrics of their unfinished run, which Keras Tuner would
        # otherwise average with the new one's.
        for trial_id in self._retry_queue:
            self.trials[trial_id].metrics = type(self.trials[trial_id].metrics)()

    @keras_tuner.synchronized
    def work_left(self) -> bool:
        """Trials running, waiting for a re-run, or not handed out yet (a grid that
        has run out says so to the next worker that asks)."""
        return bool(self.ongoing_trials or self._retry_queue or len(self.trials) < self.max_trials)


class QueueingRandomOracle(QueueingOracle, oracles.RandomSearchOracle):
    """Keras Tuner's random search with ``QueueingOracle``'s lines and re-queueing."""


class QueueingGridOracle(QueueingOracle, oracles.GridSearchOracle):
    """Keras Tuner's grid search with ``QueueingOracle``'s lines and re-queueing."""


ORACLES = {"random": QueueingRandomOracle, "grid": QueueingGridOracle}


class RecordingTuner(keras_tuner.Tuner):
    """Keras Tuner's ``Tuner`` with no checkpoint per trial (the best is retrained into
    the search's ``best/``) and, per trial, its seconds, resident memory and worker in
    ``trial_<id>/zoo.json``."""

    def run_trial(self, trial, *args, **kwargs):
        callbacks = kwargs.pop("callbacks", [])
        histories = []
        for _ in range(self.executions_per_trial):
            copied = dict(kwargs)
            copied["callbacks"] = self._deepcopy_callbacks(callbacks) + [TunerCallback(self, trial)]
            histories.append(self._build_and_fit_model(trial, *args, **copied))
        return histories

    def load_model(self, trial):
        raise NotImplementedError(
            "zoo's search keeps no weights per trial; the best trial is retrained on "
            "train + validation into the search folder's best/ (best/model.keras)."
        )

    def on_trial_begin(self, trial):
        self._trial_start = time.perf_counter()
        self._trial_began = time.time()
        super().on_trial_begin(trial)

    def on_trial_end(self, trial):
        record = {
            "seconds": round(time.perf_counter() - self._trial_start, 2),
            "rss_mb": resident_mb(),
            "worker": self.tuner_id,
            "began": round(self._trial_began, 3),
            "ended": round(time.time(), 3),
        }
        write_json(Path(self.get_trial_dir(trial.trial_id)) / TRIAL_RECORD, record)
        super().on_trial_end(trial)


def make_tuner(
    algorithm: str, hypermodel, *, objective, max_trials, seed, directory, project_name, overwrite
) -> RecordingTuner:
    """A ``RecordingTuner`` over ``hypermodel`` driven by the queueing oracle of
    ``algorithm`` (``random`` or ``grid``)."""
    if algorithm not in ORACLES:
        raise ValueError(f"algorithm {algorithm!r}: choose from {', '.join(ALGORITHMS)}.")
    oracle = ORACLES[algorithm](objective=objective, max_trials=max_trials, seed=seed)
    return RecordingTuner(
        oracle=oracle,
        hypermodel=hypermodel,
        directory=directory,
        project_name=project_name,
        overwrite=overwrite,
    )
