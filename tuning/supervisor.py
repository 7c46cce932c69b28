"""The chief's side of a search with workers: serve the oracle over Keras Tuner's gRPC
service, start local worker processes (``python -m tuning.worker``) each pinned to its
share of the cores, replace a worker that dies (its trial re-runs from the start), and
return when every trial has ended.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from concurrent import futures
from pathlib import Path

import grpc

from tuning.keras_tuner_private import OracleServicer, oracle_service
from zoo.runfolder import write_json


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
    oracle = tuner.oracle
    oracle.verbose = 0
    tuner.save()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=max(2, workers + 1)))
    oracle_service().add_OracleServicer_to_server(OracleServicer(oracle), server)
    bind = address or "127.0.0.1:0"
    port = server.add_insecure_port(bind)
    if not port:
        raise OSError(f"could not listen on {bind} for workers; pick another port.")
    server.start()
    host = bind.rsplit(":", 1)[0]
    logs = folder / "workers"
    logs.mkdir(exist_ok=True)
    write_json(folder / "worker.json", spec)
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
