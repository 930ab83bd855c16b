"""How every benchmark starts child processes and stops on SIGTERM or Ctrl-C. Not a benchmark itself.

Python's default SIGTERM ends a script on the spot: no ``finally`` runs, so the sandboxes and
servers a benchmark started stay up, and a child such as ``airflow dags test`` (which handles SIGTERM
itself) keeps running until someone SIGKILLs it. Here a benchmark calls :func:`stop_on_signals` once;
SIGTERM and SIGHUP then raise :class:`Stopped` (a ``SystemExit``) like Ctrl-C raises
``KeyboardInterrupt``, so the ``finally`` blocks run. Children run in a session of their own (a
process group that a signal to the benchmark's group does not reach) and, when the benchmark is
stopped or fails, their whole group is sent SIGTERM and, after a grace period, SIGKILL.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import subprocess
from collections.abc import Iterator, Sequence
from types import FrameType
from typing import Any

GRACE_SECONDS = float(os.environ.get("PLATFORM_OPS_BENCH_STOP_GRACE", "10"))


class Stopped(SystemExit):
    """The benchmark got SIGTERM or SIGHUP."""


def _raise_stopped(signum: int, _frame: FrameType | None) -> None:
    raise Stopped(128 + signum)


def stop_on_signals() -> None:
    """SIGTERM and SIGHUP stop the benchmark the way Ctrl-C does: ``finally`` blocks run."""
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _raise_stopped)


def stop_group(proc: subprocess.Popen[Any], grace: float | None = None) -> None:
    """End ``proc`` and every process of its group: SIGTERM, then SIGKILL after ``grace`` seconds."""
    grace = GRACE_SECONDS if grace is None else grace
    for signum in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signum)
        try:
            proc.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


_LIVE: list[subprocess.Popen[Any]] = []


def popen(argv: Sequence[str], **kwargs: Any) -> subprocess.Popen[Any]:
    """``subprocess.Popen(argv, **kwargs)`` in a new session; whatever of it still runs when the
    benchmark exits (even by Ctrl-C or SIGTERM) is stopped."""
    proc = subprocess.Popen(list(argv), start_new_session=True, **kwargs)
    _LIVE.append(proc)
    return proc


@atexit.register
def _stop_all() -> None:
    for proc in _LIVE:
        if proc.poll() is None:
            stop_group(proc)


@contextlib.contextmanager
def started(argv: Sequence[str], **kwargs: Any) -> Iterator[subprocess.Popen[Any]]:
    """:func:`popen` whose group is stopped as soon as the block raises (a failure, Ctrl-C,
    SIGTERM) or leaves it running."""
    proc = popen(argv, **kwargs)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            stop_group(proc)
        else:  # the leader is gone: its children may not be
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)


def run(
    argv: Sequence[str], *, check: bool = False, capture_output: bool = False, **kwargs: Any
) -> subprocess.CompletedProcess[Any]:
    """Like :func:`subprocess.run`, with the child stopped (group and all) when the benchmark is."""
    if capture_output:
        kwargs.setdefault("stdout", subprocess.PIPE)
        kwargs.setdefault("stderr", subprocess.PIPE)
    with started(argv, **kwargs) as proc:
        out, err = proc.communicate()
    result = subprocess.CompletedProcess(list(argv), proc.returncode, out, err)
    if check:
        result.check_returncode()
    return result
