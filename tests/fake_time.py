"""A clock for code that takes ``clock`` and ``sleep`` callables: time moves only when it sleeps."""

from __future__ import annotations


class FakeTime:
    """A clock that moves only when someone sleeps; every sleep is recorded in ``sleeps``."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        """The current fake time."""
        return self.now

    def sleep(self, seconds: float) -> None:
        """Record the sleep and move the clock by it, without waiting."""
        self.sleeps.append(seconds)
        self.now += seconds
