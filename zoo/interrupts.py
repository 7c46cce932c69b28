"""Stopping cleanly on Ctrl-C (SIGINT) and SIGTERM.

While ``stop_cleanly()`` is active, a first signal during ``model.fit`` only asks
training to stop: ``StopOnSignal`` (one of the standard callbacks) raises
``Interrupted`` at the next batch end, a safe point (never inside the checkpoint or
backup writers, which run at epoch end). Outside ``fit`` (loading data, evaluating,
exporting), or at a second signal, ``Interrupted`` is raised at once; every file in a
run folder is written through ``zoo.runfolder.atomic_path``, so none is left half
written. The command line catches ``Interrupted`` and says how to resume.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

NAMES = {signal.SIGINT: "Ctrl-C (SIGINT)", signal.SIGTERM: "SIGTERM"}


class Interrupted(KeyboardInterrupt):
    """Training or a command stopped by a signal; ``code`` is the exit status a shell
    expects (128 + the signal number)."""

    def __init__(self, signum: int, where: str = ""):
        self.signum, self.where = signum, where
        self.code = 128 + int(signum)
        super().__init__(f"stopped by {NAMES.get(signum, signum)}{where}")


class _State:
    active = False
    in_fit = False
    pending: int | None = None


state = _State()


def _handler(signum, frame):
    if state.in_fit and state.pending is None:
        state.pending = signum  # StopOnSignal raises at the next batch end
        return
    state.in_fit = False
    # kept pending too: raised inside a garbage-collector callback or a __del__, the
    # exception is swallowed ("Exception ignored in ..."); the next safe point
    # (``check``) raises it again
    state.pending = signum
    raise Interrupted(signum)


@contextlib.contextmanager
def stop_cleanly() -> Iterator[None]:
    """SIGINT and SIGTERM raise ``Interrupted`` at a safe point while the block runs
    (from the main thread; elsewhere it does nothing)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, _handler) for s in NAMES}
    state.active, state.pending, state.in_fit = True, None, False
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        state.active, state.pending, state.in_fit = False, None, False


def check(where: str = "") -> None:
    """Raise ``Interrupted`` if a signal asked to stop."""
    if state.pending is not None:
        signum, state.pending, state.in_fit = state.pending, None, False
        raise Interrupted(signum, where)
