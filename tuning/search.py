"""``random_search``: Keras Tuner's random (or grid) search over a zoo hypermodel,
resumable, with a line per trial, a results table and plots, worker processes, and the
best model retrained on train + validation, evaluated on test and exported through
``zoo``'s export path.

A search folder holds ``search/`` (Keras Tuner's own trial records: what makes it
resumable), ``results.csv`` and ``results.md`` (one row per trial), ``objective.png``
(the objective per trial and the best so far), ``hyperparameters.png`` (each
hyperparameter against the objective), ``space.json`` and ``best/`` (a run folder: the
retrained model, its evaluation and its verified export).

Workers (``workers=N``, ``zoo tune --workers N``): this process is the chief. It holds
the oracle (which trial runs next, every result) behind Keras Tuner's gRPC service on
the loopback interface and starts N worker processes, each with its share of the CPU
cores, that ask it for trials, train them and report back. A worker that dies
mid-trial has its trial put back in the queue and is replaced; finished trials are on
disk already. The same roles across machines come from Keras Tuner's environment
variables (``KERASTUNER_TUNER_ID``, ``KERASTUNER_ORACLE_IP``,
``KERASTUNER_ORACLE_PORT``): see the README.
"""

from __future__ import annotations

import csv
import json
import math
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tuning.spaces import SPACES, family_of, parse_space

# Objectives zoo's compiled models log, with their direction.
_DIRECTIONS = {"loss": "min", "data_loss": "min", "accuracy": "max", "mae": "min"}
ALGORITHMS = ("random", "grid")


def check_objective(objective: str, task: str) -> tuple[str, str]:
    """``(objective, "min" | "max")``, or a ``ValueError`` naming the metrics that are
    logged, before any trial runs (a misspelled objective would otherwise only show up
    as every trial failing)."""
    logged = ["data_loss", "loss"] + (["accuracy"] if task == "classification" else ["mae"])
    names = logged + [f"val_{m}" for m in logged]
    if objective not in names:
        raise ValueError(
            f"objective {objective!r} is not a metric the {task} models log; "
            f"choose from {', '.join(names)} (val_ ones score on the validation split)."
        )
    return objective, _DIRECTIONS[objective.removeprefix("val_")]


@dataclass
class SearchResult:
    directory: Path
    rows: list[dict[str, Any]]
    best: dict[str, Any] | None
    objective: str
    test: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    trials_run_now: int = 0
    role: str = "single"  # "single", "chief" or "worker"


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


def role_from_environment() -> tuple[str, str | None]:
    """``("single", None)``, or Keras Tuner's distributed role from its environment
    variables: ``("chief" | "worker", "IP:PORT")``; half-set variables are an error."""
    ip = os.environ.get("KERASTUNER_ORACLE_IP")
    if not ip:
        return "single", None
    port = os.environ.get("KERASTUNER_ORACLE_PORT")
    tuner_id = os.environ.get("KERASTUNER_TUNER_ID")
    if not port or not tuner_id:
        raise ValueError(
            "KERASTUNER_ORACLE_IP is set, so this is a distributed search, but "
            f"KERASTUNER_ORACLE_PORT={port!r} and KERASTUNER_TUNER_ID={tuner_id!r}: set both "
            "(the chief's ID contains 'chief'; each worker's ID is unique), or unset all three."
        )
    return ("chief" if "chief" in tuner_id else "worker"), f"{ip}:{port}"


def _classes(algorithm: str):
    """The tuner class for ``algorithm``: Keras Tuner's Tuner with zoo's oracle (a line
    per trial, workers' trials put back in the queue when they die) and trial loop (no
    per-trial checkpoint: the best is retrained into ``best/``; time and memory kept per
    trial)."""
    import keras_tuner
    from keras_tuner import oracles
    from keras_tuner.src.engine.tuner_utils import TunerCallback

    base = {"random": oracles.RandomSearchOracle, "grid": oracles.GridSearchOracle}
    if algorithm not in base:
        raise ValueError(f"algorithm {algorithm!r}: choose from {', '.join(ALGORITHMS)}.")

    class ZooOracle(base[algorithm]):
        say = staticmethod(print)

        @keras_tuner.synchronized
        def end_trial(self, trial):
            super().end_trial(trial)
            self._announce(self.trials[trial.trial_id])

        def _announce(self, trial):
            ended = [t for t in self.trials.values() if t.status in _ENDED]
            best = self.get_best_trials(1)
            best_score = best[0].score if best else None
            values = ", ".join(f"{k}={_fmt(v)}" for k, v in trial.hyperparameters.values.items())
            score = trial.status.lower() if trial.score is None else f"{trial.score:.4f}"
            extra = _trial_record(self._project_dir, trial.trial_id)
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
                # A worker restarted under the same ID takes back the trial it held,
                # from the start: the dead run's metrics would be averaged in.
                held = self.ongoing_trials[tuner_id]
                held.metrics = type(held.metrics)()
            return super().create_trial(tuner_id)

        @keras_tuner.synchronized
        def release(self, tuner_id: str) -> str | None:
            """Forget worker ``tuner_id`` (it died); its running trial, if any, goes
            back to the front of the queue with its partial metrics cleared. Returns
            that trial's id."""
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
            """Trials running, waiting for a re-run, or not handed out yet (a grid
            that has run out says so to the next worker that asks)."""
            return bool(
                self.ongoing_trials or self._retry_queue or len(self.trials) < self.max_trials
            )

    class ZooTuner(keras_tuner.Tuner):
        def run_trial(self, trial, *args, **kwargs):
            callbacks = kwargs.pop("callbacks", [])
            histories = []
            for _ in range(self.executions_per_trial):
                copied = dict(kwargs)
                copied["callbacks"] = self._deepcopy_callbacks(callbacks) + [
                    TunerCallback(self, trial)
                ]
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
            path = Path(self.get_trial_dir(trial.trial_id)) / "zoo.json"
            path.write_text(json.dumps(record) + "\n")
            super().on_trial_end(trial)

    def make(hypermodel, *, objective, max_trials, seed, directory, project_name, overwrite):
        oracle = ZooOracle(objective=objective, max_trials=max_trials, seed=seed)
        return ZooTuner(
            oracle=oracle,
            hypermodel=hypermodel,
            directory=directory,
            project_name=project_name,
            overwrite=overwrite,
        )

    make.oracle_class = ZooOracle
    return make


_ENDED = ("COMPLETED", "FAILED", "INVALID")


def _trial_record(project_dir, trial_id) -> dict:
    try:
        return json.loads((Path(project_dir) / f"trial_{trial_id}" / "zoo.json").read_text())
    except (OSError, ValueError):
        return {}


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.3g}"
    return str(v)


def random_search(
    source: str = "digits",
    model: str | None = None,
    *,
    trials: int = 20,
    epochs: int = 20,
    directory: str | os.PathLike | None = None,
    overwrite: bool = False,
    seed: int = 42,
    space: list[str] | dict[str, tuple] | None = None,
    objective: str = "val_data_loss",
    patience: int = 5,
    retrain: bool = True,
    export: bool = True,
    label: str | None = None,
    image_size=None,
    data_dir=None,
    workers: int = 0,
    algorithm: str = "random",
    say=print,
    tuner_factory=None,
) -> SearchResult:
    """Random search over ``model``'s family (default: convnet for images, mlp for
    tables) on ``source``, ``trials`` trials of at most ``epochs`` epochs each with
    early stopping on ``objective`` (default ``val_data_loss``: the validation loss
    without the L1/L2 penalties, which ``val_loss`` includes and which would favour
    weak regularization). A folder that already holds a search resumes it
    (finished trials are kept, only the rest run) unless ``overwrite``. ``space``
    narrows or widens the family's space (``tuning.spaces``). ``workers=N`` runs the
    trials in N worker processes with this one as the chief; ``algorithm="grid"``
    walks a grid instead (Keras Tuner's ``GridSearch``: ranges are cut into 10 points,
    so give it choices)."""
    import keras

    from zoo.train import TrainConfig, load_for

    if not seed:
        raise ValueError("seed=0 means 'no seed' to Keras Tuner; pass a non-zero seed.")
    if int(trials) < 1 or int(epochs) < 1:
        raise ValueError(f"trials={trials} and epochs={epochs} must be >= 1.")
    if int(workers) < 0:
        raise ValueError(f"workers={workers}: give 0 (train in this process) or more.")
    role, address = role_from_environment()
    if role == "worker" and workers:
        raise ValueError(
            f"this process is worker {os.environ['KERASTUNER_TUNER_ID']!r} (from "
            "KERASTUNER_TUNER_ID); only the chief starts workers: drop --workers."
        )
    if role == "worker" and overwrite:
        raise ValueError("a worker never overwrites the chief's search: drop --overwrite.")
    config, loaded = load_for(
        TrainConfig(
            data=source,
            model=model,
            seed=seed,
            label=label,
            image_size=image_size,
            data_dir=data_dir,
        )
    )
    info = loaded.info
    family = family_of(config.model)
    base = SPACES[family]
    if isinstance(space, dict):
        unknown = sorted(set(space) - set(base))
        if unknown:
            raise ValueError(f"space: {unknown} not in the {family} space ({', '.join(base)}).")
        space = {**base, **{k: tuple(v) for k, v in space.items()}}
    else:
        space = parse_space(space, base)
    objective, direction = check_objective(objective, info.task)
    if not info.num_examples["val"] and objective.startswith("val_"):
        raise ValueError(f"{source} has no validation split; use objective='data_loss'.")

    from tuning.hypermodels import ZooHyperModel

    x, y = loaded.arrays("train")
    xv, yv = loaded.arrays("val")
    hypermodel = ZooHyperModel(
        family,
        input_shape=info.input_shape,
        num_classes=info.num_classes,
        task=info.task,
        y_train=y,
        space=space,
        model=config.model,
    )
    folder = Path(directory or f"runs/tune-{config.model}-{loaded.data.name}")
    folder.mkdir(parents=True, exist_ok=True)
    described = {
        "source": str(source),
        "model": config.model,
        "objective": objective,
        "algorithm": algorithm,
        "epochs": epochs,
        "seed": seed,
        "space": {k: list(v) for k, v in space.items()},
    }
    if role != "worker":
        _check_same_search(folder, described, overwrite)

    import keras_tuner

    factory = tuner_factory or _classes(algorithm)
    tuner = factory(
        hypermodel,
        objective=keras_tuner.Objective(objective, direction),
        max_trials=int(trials),
        seed=int(seed),
        directory=str(folder),
        project_name="search",
        overwrite=overwrite,
    )
    tuner.oracle.say = say
    stop = keras.callbacks.EarlyStopping(monitor=objective, mode=direction, patience=patience)
    fit = dict(validation_data=(xv, yv), epochs=int(epochs), callbacks=[stop], verbose=0)
    start = time.perf_counter()
    if role == "worker":
        say(f"worker {tuner.tuner_id}: asking the chief at {address} for trials")
        tuner.search(x, y, **fit)
        say(f"worker {tuner.tuner_id}: no trials left")
        return SearchResult(folder, [], None, objective, role="worker")

    before = sum(t.status == "COMPLETED" for t in tuner.oracle.trials.values())
    if before:
        say(f"resuming {folder}: {before} finished trial(s) kept, {max(0, trials - before)} to run")
    if role == "chief" or workers:
        spec = {
            **described,
            "trials": int(trials),
            "patience": patience,
            "label": label,
            "image_size": list(image_size) if image_size else None,
            "data_dir": None if data_dir is None else str(data_dir),
            "directory": str(folder.resolve()),
        }
        serve_and_wait(tuner, folder, spec, int(workers), address, say)
    else:
        tuner.search(x, y, **fit)
    seconds = time.perf_counter() - start
    rows = trial_rows(tuner)
    write_results(rows, folder, objective)
    done = [r for r in rows if r["score"] is not None]
    best = (min if direction == "min" else max)(done, key=lambda r: r["score"]) if done else None
    result = SearchResult(
        folder,
        rows,
        best,
        objective,
        seconds=seconds,
        trials_run_now=len(done) - before,
        role="chief" if role == "chief" or workers else "single",
    )
    if best is None:
        say("no trial finished; see the errors above.")
        return result
    say(f"best trial {best['trial_id']}: {objective} {best['score']:.4f}")
    if retrain:
        result.test = retrain_best(
            tuner, hypermodel, loaded, folder / "best", best, export, say, config=config
        )
    return result


def _check_same_search(folder: Path, described: dict, overwrite: bool) -> None:
    """Refuse to resume ``folder`` with another search's settings; record these."""
    saved_space = folder / "space.json"
    if saved_space.exists() and not overwrite:
        before = json.loads(saved_space.read_text())
        before.setdefault("algorithm", "random")
        changed = [
            k
            for k in ("source", "model", "objective", "algorithm", "space")
            if before.get(k) != described[k]
        ]
        if changed:
            raise ValueError(
                f"{folder} holds a search with a different {', '.join(changed)}; resuming it "
                "would mix trials of two searches. Pass overwrite=True (--overwrite) or another "
                "folder."
            )
    saved_space.write_text(json.dumps(described, indent=2) + "\n")


def worker_threads(workers: int) -> list[list[int]]:
    """The CPU cores each of ``workers`` local workers gets: the cores this process may
    use, split into equal contiguous shares (shares overlap when there are more workers
    than cores)."""
    try:
        cores = sorted(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = list(range(os.cpu_count() or 1))
    if workers <= len(cores):
        share = len(cores) // workers
        return [cores[i * share : (i + 1) * share] for i in range(workers)]
    return [[cores[i % len(cores)]] for i in range(workers)]


def serve_and_wait(tuner, folder: Path, spec: dict, workers: int, address, say) -> None:
    """Serve ``tuner``'s oracle over gRPC (Keras Tuner's service) and run until every
    trial has ended. With ``workers``, start that many local worker processes on the
    loopback interface, each pinned to its share of the cores; a worker that dies is
    replaced (its running trial re-runs from the start) up to twice per worker. With
    ``address`` (a chief started from the environment) also accept workers from other
    machines; a line a minute says which trials they hold while they run."""
    from concurrent import futures

    import grpc
    from keras_tuner.src import protos
    from keras_tuner.src.distribute.oracle_chief import OracleServicer

    oracle = tuner.oracle
    oracle.verbose = 0
    tuner.save()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=max(2, workers + 1)))
    protos.get_service_grpc().add_OracleServicer_to_server(OracleServicer(oracle), server)
    bind = address or "127.0.0.1:0"
    port = server.add_insecure_port(bind)
    if not port:
        raise OSError(f"could not listen on {bind} for workers; pick another port.")
    server.start()
    host = bind.rsplit(":", 1)[0]
    logs = folder / "workers"
    logs.mkdir(exist_ok=True)
    (folder / "worker.json").write_text(json.dumps(spec, indent=2) + "\n")
    procs: dict[str, subprocess.Popen] = {}
    shares = worker_threads(workers) if workers else []
    restarts: dict[str, int] = {}

    def start(slot: int, tuner_id: str) -> None:
        env = {
            **os.environ,
            "KERASTUNER_ORACLE_IP": host,
            "KERASTUNER_ORACLE_PORT": str(port),
            "KERASTUNER_TUNER_ID": tuner_id,
            "ZOO_WORKER_CPUS": ",".join(map(str, shares[slot])),
            "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"),
            "PYTHONPATH": os.pathsep.join(
                [str(Path(__file__).resolve().parents[1])]
                + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else [])
            ),
        }
        log = open(logs / f"{tuner_id}.log", "ab")
        procs[tuner_id] = subprocess.Popen(
            [sys.executable, "-m", "tuning.worker", str(folder / "worker.json")],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=os.getcwd(),
        )
        procs[tuner_id].slot = slot
        log.close()
        (logs / f"{tuner_id}.pid").write_text(f"{procs[tuner_id].pid}\n")

    if workers:
        say(
            f"chief: serving the search at {host}:{port}; {workers} worker(s) with "
            f"{len(shares[0])} core(s) each, logs in {logs}"
        )
    else:
        say(f"chief: serving the search at {host}:{port}; waiting for workers (Ctrl-C stops)")
    for slot in range(workers):
        start(slot, f"worker{slot}")
    last_note = time.monotonic()
    try:
        while True:
            time.sleep(0.5)
            for tuner_id, proc in list(procs.items()):
                code = proc.poll()
                if code is None:
                    continue
                del procs[tuner_id]
                lost = oracle.release(tuner_id)
                if code == 0:
                    continue
                tail = _tail(logs / f"{tuner_id}.log")
                say(
                    f"worker {tuner_id} died (exit code {code})"
                    + (f" during trial {lost}, which goes back in the queue" if lost else "")
                    + (f"; its log ends:\n{tail}" if tail else "")
                )
                root = tuner_id.split("-")[0]
                restarts[root] = restarts.get(root, 0) + 1
                if oracle.work_left() and restarts[root] <= 2:
                    start(proc.slot, f"{root}-{restarts[root]}")
                    say(f"started {root}-{restarts[root]} in its place")
            if workers and not procs:
                break
            if not workers and not oracle.work_left() and not oracle.tuner_ids:
                break
            if not workers and time.monotonic() - last_note > 60 and oracle.ongoing_trials:
                held = ", ".join(f"{t.trial_id} on {w}" for w, t in oracle.ongoing_trials.items())
                say(
                    f"chief: running {held}; a worker that died can be started again with "
                    "the same KERASTUNER_TUNER_ID to re-run its trial"
                )
                last_note = time.monotonic()
        if oracle.work_left():
            say(
                "chief: every worker has stopped but trials are left; run the same command "
                "again to finish them (finished trials are kept)."
            )
    finally:
        for proc in procs.values():
            proc.terminate()
        for proc in procs.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        server.stop(grace=None)
        oracle.save()


def _tail(path: Path, lines: int = 8) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return "\n".join("    " + line for line in text[-lines:])


def hyperparameters_of(hypermodel, values: dict):
    """A ``keras_tuner.HyperParameters`` of ``hypermodel``'s space holding ``values``
    (a trial's row, as read back from ``results.csv``: strings are cast to each
    hyperparameter's type), to rebuild that trial's model with ``hypermodel.build``."""
    import keras_tuner

    from tuning.spaces import sample

    hp = keras_tuner.HyperParameters()
    sample(hp, hypermodel.space)
    for spec in hp.space:
        raw = values.get(spec.name)
        if raw is None or raw == "":
            continue
        kind = type(spec).__name__
        if kind == "Float":
            hp.values[spec.name] = float(raw)
        elif kind == "Int":
            hp.values[spec.name] = int(float(raw))
        else:
            options = getattr(spec, "values", None) or [spec.value]
            match = [o for o in options if str(o) == str(raw) or o == raw]
            if not match:
                raise ValueError(f"{spec.name}={raw!r} is not one of {options}.")
            hp.values[spec.name] = match[0]
    return hp


def trial_rows(tuner) -> list[dict[str, Any]]:
    """One row per trial: id, status, score, best epoch, its hyperparameters, and
    (where the process that ran it shares this disk) its seconds, resident memory
    after it and the worker that ran it."""
    rows = []
    for trial_id, trial in sorted(tuner.oracle.trials.items(), key=lambda kv: kv[0]):
        extra = _trial_record(tuner.project_dir, trial_id)
        rows.append(
            {
                "trial_id": trial_id,
                "status": trial.status,
                "score": None if trial.score is None else float(trial.score),
                "best_epoch": None if trial.best_step is None else int(trial.best_step) + 1,
                **trial.hyperparameters.values,
                **{k: extra.get(k) for k in ("seconds", "rss_mb", "worker")},
            }
        )
    return rows


def write_results(rows: list[dict], folder: Path, objective: str) -> None:
    """``results.csv``, ``results.md``, ``objective.png`` and ``hyperparameters.png``."""
    from zoo.plots import search_hyperparameters, search_objective

    if not rows:
        return
    columns = list(dict.fromkeys(k for r in rows for k in r))
    tmp = folder / ".results.csv.tmp"
    with tmp.open("w", newline="") as f:
        writer = csv.DictWriter(f, columns)
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, folder / "results.csv")
    lines = [
        "| " + " | ".join(columns) + " |",
        "|" + "---|" * len(columns),
        *(
            "| "
            + " | ".join(_fmt(r.get(c, "")) if r.get(c) is not None else "" for c in columns)
            + " |"
            for r in rows
        ),
    ]
    (folder / "results.md").write_text(
        f"# Random search ({objective})\n\n" + "\n".join(lines) + "\n"
    )
    scored = [r for r in rows if r["score"] is not None]
    if scored:
        search_objective(scored, objective, folder / "objective.png")
        search_hyperparameters(scored, objective, folder / "hyperparameters.png")


def retrain_best(
    tuner, hypermodel, loaded, run_dir: Path, best: dict, export: bool, say, config=None
) -> dict:
    """The best hyperparameters retrained on train + validation for the epochs their
    trial needed, evaluated on test (``zoo.evaluate``) and exported (verified). With
    the search's ``config``, ``run_dir`` gets a ``config.json`` too, so that ``zoo
    evaluate`` and ``zoo export`` take it like any run folder."""
    import keras
    import numpy as np

    from zoo.evaluation import evaluate, update_metrics
    from zoo.train import export_and_verify

    run_dir.mkdir(parents=True, exist_ok=True)
    hp = tuner.oracle.get_trial(best["trial_id"]).hyperparameters
    if config is not None:
        from dataclasses import asdict, replace

        from tuning.hypermodels import model_arguments

        name, kwargs = model_arguments(hypermodel.family, hp.values, hypermodel.model)
        chosen = replace(
            config,
            model=name,
            model_kwargs=kwargs,
            learning_rate=float(hp.values.get("learning_rate", config.learning_rate)),
            optimizer=str(hp.values.get("optimizer", config.optimizer)),
            batch_size=int(hp.values.get("batch_size", config.batch_size)),
            epochs=int(best.get("best_epoch") or 1),
        )
        (run_dir / "config.json").write_text(json.dumps(asdict(chosen), indent=2) + "\n")
    x, y = loaded.arrays("train")
    xv, yv = loaded.arrays("val")
    x_all, y_all = np.concatenate([x, xv]), np.concatenate([y, yv])
    epochs = int(best.get("best_epoch") or 1)
    keras.utils.set_random_seed(int(tuner.oracle.seed or 1))
    hypermodel.y_train = y_all
    model = hypermodel.build(hp)
    start = time.perf_counter()
    hypermodel.fit(hp, model, x_all, y_all, epochs=epochs, verbose=0, shuffle=True)
    seconds = time.perf_counter() - start
    model.save(run_dir / "model.keras")
    evaluation = evaluate(model, loaded, run_dir=run_dir, train=(x_all, y_all), write_metrics=False)
    record = {
        "hyperparameters": hp.values,
        "epochs": epochs,
        "train_seconds": round(seconds, 2),
        **evaluation.as_metrics(),
    }
    if export:
        record["export"] = export_and_verify(model, loaded, run_dir)
    update_metrics(run_dir / "metrics.json", record)
    summary = evaluation.lines()[0]
    say(
        f"best retrained on train + validation for {epochs} epochs ({seconds:.1f}s); "
        f"{summary}" + ("; exported and verified" if export else "")
    )
    test = evaluation.test
    return {k: v for k, v in test.items() if isinstance(v, float | int) and not math.isnan(v)}
