"""An adaptive concurrency limit for the calls one task's threads make to one API host.

The limit starts at ``max_concurrency`` calls in flight. A throttled answer (429, 503, a rate-limit
refusal) halves it, down to ``min_concurrency``, and pauses every caller until the server's
``Retry-After`` (or an exponential back-off when the server named none). It grows back by one after
``recover_after`` successes in a row, so a storm of throttled answers ends with a slow climb instead
of a new burst. A burst of throttled answers from calls that were already in flight together
halves the limit once: a throttle reported while the pause of the previous one still runs only
extends the pause.

Pure and thread-safe: the clock and the sleep are injected, nothing here reads the environment.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

Clock = Callable[[], float]
Sleep = Callable[[float], None]


class AdaptiveLimiter:
    """How many calls to one host may be in flight now, and when the next may start."""

    def __init__(
        self,
        max_concurrency: int = 8,
        min_concurrency: int = 1,
        recover_after: int = 20,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
        first_backoff: float = 1.0,
        max_backoff: float = 60.0,
    ) -> None:
        """Start at ``max_concurrency``.

        Args:
            max_concurrency: the most calls in flight at once (and the starting limit).
            min_concurrency: the limit never drops below this.
            recover_after: successes in a row that raise the limit by one.
            clock: monotonic seconds.
            sleep: blocks the calling thread for some seconds.
            first_backoff: the pause after a throttle without Retry-After; doubles while throttles
                follow each other without a success in between.
            max_backoff: the longest such pause.

        Raises:
            ValueError: a bound is not a positive integer, or min exceeds max.
        """
        if min_concurrency < 1 or max_concurrency < min_concurrency or recover_after < 1:
            raise ValueError(
                "need 1 <= min_concurrency <= max_concurrency and recover_after >= 1, got "
                f"{min_concurrency}, {max_concurrency}, {recover_after}"
            )
        self.max_concurrency = max_concurrency
        self.min_concurrency = min_concurrency
        self.recover_after = recover_after
        self.first_backoff = first_backoff
        self.max_backoff = max_backoff
        self._clock = clock
        self._sleep = sleep
        self._cond = threading.Condition()
        self._concurrency = max_concurrency
        self._in_flight = 0
        self._paused_until = float("-inf")
        self._streak = 0
        self._throttles_in_a_row = 0
        self._retries = 0

    @property
    def concurrency(self) -> int:
        """The current limit of calls in flight."""
        with self._cond:
            return self._concurrency

    @property
    def retries(self) -> int:
        """How many throttled answers were reported (each one is a call retried)."""
        with self._cond:
            return self._retries

    @property
    def in_flight(self) -> int:
        """Calls holding a slot now."""
        with self._cond:
            return self._in_flight

    def slot(self) -> AbstractContextManager[None]:
        """Hold one of the ``concurrency`` places for the duration of one call.

        Blocks while the limit is reached, and while a pause after a throttled answer runs.
        """
        return self._slot()

    @contextmanager
    def _slot(self) -> Iterator[None]:
        self._acquire()
        try:
            yield
        finally:
            with self._cond:
                self._in_flight -= 1
                self._cond.notify_all()

    def _acquire(self) -> None:
        while True:
            with self._cond:
                wait = self._paused_until - self._clock()
                if wait <= 0:
                    if self._in_flight < self._concurrency:
                        self._in_flight += 1
                        return
                    self._cond.wait()
                    continue
            self._sleep(wait)

    def throttled(self, retry_after: float | None) -> None:
        """Report a throttled answer: halve the limit (not below the minimum) and pause everyone.

        Args:
            retry_after: the seconds the server asked to wait, None when it did not say; then the
                pause is the exponential back-off.
        """
        with self._cond:
            now = self._clock()
            self._retries += 1
            self._streak = 0
            self._throttles_in_a_row += 1
            if now >= self._paused_until:
                self._concurrency = max(self.min_concurrency, self._concurrency // 2)
            delay = retry_after if retry_after is not None else self._backoff()
            self._paused_until = max(self._paused_until, now + max(0.0, delay))

    def _backoff(self) -> float:
        exponent = min(self._throttles_in_a_row - 1, 32)
        return float(min(self.max_backoff, self.first_backoff * 2**exponent))

    def succeeded(self) -> None:
        """Report a successful call: after ``recover_after`` in a row the limit grows by one."""
        with self._cond:
            self._throttles_in_a_row = 0
            self._streak += 1
            if self._streak >= self.recover_after:
                self._streak = 0
                if self._concurrency < self.max_concurrency:
                    self._concurrency += 1
                    self._cond.notify_all()


_REGISTRY: dict[str, AdaptiveLimiter] = {}
_REGISTRY_LOCK = threading.Lock()


def limiter_for(host: str, max_concurrency: int) -> AdaptiveLimiter:
    """The process's one limiter of ``host`` (created on first use with ``max_concurrency``).

    Every hook of the same host in this process shares it, so their threads share one limit; a
    later caller asking for another ``max_concurrency`` gets the existing limiter unchanged.
    """
    key = host.rstrip("/").lower()
    with _REGISTRY_LOCK:
        limiter = _REGISTRY.get(key)
        if limiter is None:
            limiter = _REGISTRY[key] = AdaptiveLimiter(max_concurrency=max_concurrency)
        return limiter
