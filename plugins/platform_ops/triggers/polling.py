"""The one polling policy of the package's triggers: read, wait a poll interval, stop at a deadline.

Every trigger here polls a cloud API until its wait is over, and they share the rules: a
:class:`~platform_ops.exceptions.TransientServiceError` is logged and retried at the poll interval,
a read that settles nothing (``None``) is retried the same way, the last sleep never overshoots
``deadline`` (epoch seconds, fixed when the task defers and serialised with the trigger, so a
triggerer restart does not extend it), and a wait that runs out of time ends with the subclass'
timed-out event, which can say whether failed reads were the reason. The rules are the package's
one waiting policy (:mod:`platform_ops.core.waiting`); the loop is tenacity's.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Awaitable, Callable
from typing import Any

from airflow.triggers.base import BaseTrigger
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, retry_if_result

from platform_ops.core.waiting import next_wait, stop_at
from platform_ops.exceptions import TransientServiceError


class PollingTrigger(BaseTrigger):
    """Base of a trigger that polls until a read settles the wait, or ``deadline`` passes.

    Subclasses name what they poll (:attr:`subject`, :attr:`service`), and build the timed-out
    event in :meth:`timed_out`; :attr:`message` holds the last thing worth telling about the wait.
    """

    subject = "the object"
    service = "the API"

    def __init__(self, poll_interval: float, deadline: float | None) -> None:
        """Poll every ``poll_interval`` seconds until ``deadline`` (None: no deadline)."""
        super().__init__()  # type: ignore[no-untyped-call]  # BaseTrigger is unannotated
        self.poll_interval = float(poll_interval)
        self.deadline = None if deadline is None else float(deadline)
        self.message = "no answer yet"
        self.failed_reads = 0

    async def poll(self, read_once: Callable[..., Awaitable[Any]], *args: Any) -> Any:
        """Call ``read_once(*args)`` until it returns something, then return it.

        Transient errors and None results are retried at the poll interval until the deadline;
        other errors propagate at once; at the deadline the result is :meth:`timed_out`'s.
        """
        retrying = AsyncRetrying(
            retry=retry_if_exception_type(TransientServiceError) | retry_if_result(lambda r: r is None),
            stop=stop_at(self.deadline),
            wait=next_wait(self.poll_interval, self.deadline),
            before_sleep=self._log_failed_read,
            retry_error_callback=lambda _: self.timed_out(),
        )
        return await retrying(read_once, *args)

    def answered(self) -> None:
        """Note a successful read (logs the end of a run of failed reads)."""
        if self.failed_reads:
            self.log.info("%s answers again after %d failed reads", self.subject, self.failed_reads)
            self.failed_reads = 0

    @abstractmethod
    def timed_out(self) -> Any:
        """The event of a wait that reached its deadline."""
        raise NotImplementedError

    def _log_failed_read(self, retry_state: RetryCallState) -> None:
        outcome = retry_state.outcome
        if outcome is None or not outcome.failed:
            return
        self.failed_reads += 1
        exc = outcome.exception()
        self.message = f"{self.service} did not answer ({self.failed_reads} failed reads in a row): {exc}"
        self.log.warning(
            "%s could not be read (%d in a row), polling on until the deadline: %s",
            self.subject,
            self.failed_reads,
            exc,
        )
