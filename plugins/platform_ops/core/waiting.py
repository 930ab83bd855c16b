"""How the package waits: read until the answer settles, at an interval, never past a deadline.

Every wait loop of the package follows these rules, the hooks' synchronous ones through
:func:`poll` and the triggers' asynchronous ones through :func:`stop_at` and :func:`next_wait`
(``platform_ops.triggers.polling``):

* a read is repeated every ``interval`` seconds while its answer is not settled, or while it fails
  with an error the caller calls transient; any other error ends the wait at once;
* the last sleep is cut so that no read happens later than needed past ``deadline`` (a clock
  reading, epoch or monotonic, the caller's choice), and the read at the deadline still counts;
* a wait that runs out of time raises :class:`Unsettled`, holding the last answer or error, so the
  caller can say what it was still waiting for.

Backoff between attempts of a create (credentials still propagating) doubles up to a cap:
:func:`doubling_delay`. The loops are tenacity's.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

from tenacity import RetryCallState, RetryError, Retrying, retry_if_exception, retry_if_result

T = TypeVar("T")
Clock = Callable[[], float]


class Unsettled(Exception):
    """The deadline passed before the answer settled; ``result`` or ``error`` is the last read's."""

    def __init__(self, result: Any = None, error: BaseException | None = None) -> None:
        """Hold the last read's answer (``result``) or its transient failure (``error``)."""
        super().__init__(f"still unsettled at the deadline: {error if error is not None else result!r}")
        self.result = result
        self.error = error


def stop_at(deadline: float | None, clock: Clock = time.time) -> Callable[[RetryCallState], bool]:
    """A tenacity stop: true once ``clock()`` reaches ``deadline`` (None: never)."""

    def stop(_: RetryCallState) -> bool:
        return deadline is not None and clock() >= deadline

    return stop


def next_wait(
    interval: float, deadline: float | None, clock: Clock = time.time
) -> Callable[[RetryCallState], float]:
    """A tenacity wait: ``interval`` seconds, cut so that the next read is not later than ``deadline``."""

    def wait(_: RetryCallState) -> float:
        if deadline is None:
            return interval
        return max(0.0, min(interval, deadline - clock()))

    return wait


def doubling_delay(first: float, cap: float, attempt: int) -> float:
    """Seconds before retry number ``attempt`` (1-based): ``first``, doubling each time, at most ``cap``."""
    return float(min(cap, first * 2 ** (attempt - 1)))


def poll(
    read: Callable[[], T],
    *,
    deadline: float,
    interval: float,
    settled: Callable[[T], bool] = lambda _: True,
    transient: Callable[[BaseException], bool] = lambda _: False,
    on_wait: Callable[[T | None, BaseException | None, float], None] | None = None,
    clock: Clock = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Call ``read`` until its answer is ``settled``, and return that answer.

    A read that raises an error ``transient`` accepts is retried like an unsettled answer; any
    other error propagates at once. ``on_wait(answer, error, seconds)`` is called before each
    sleep (for the log).

    Raises:
        Unsettled: ``deadline`` (read on ``clock``) passed first.
    """

    def before_sleep(state: RetryCallState) -> None:
        if on_wait is None or state.outcome is None or state.next_action is None:
            return
        failed = state.outcome.failed
        on_wait(
            None if failed else state.outcome.result(),
            state.outcome.exception() if failed else None,
            state.next_action.sleep,
        )

    retrying = Retrying(
        retry=retry_if_exception(transient) | retry_if_result(lambda answer: not settled(answer)),
        stop=stop_at(deadline, clock),
        wait=next_wait(interval, deadline, clock),
        before_sleep=before_sleep,
        sleep=sleep,
    )
    try:
        return retrying(read)
    except RetryError as exc:
        last = exc.last_attempt
        if last.failed:
            raise Unsettled(error=last.exception()) from last.exception()
        raise Unsettled(result=last.result()) from None
