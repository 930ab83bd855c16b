"""The adaptive limiter: halving on throttles, pauses, slow recovery, and a real bound for threads."""

from __future__ import annotations

import threading
import time

import pytest

from platform_ops.core.adaptive_limiter import AdaptiveLimiter, limiter_for
from tests.fake_time import FakeTime


def limiter(fake: FakeTime, **kwargs: int) -> AdaptiveLimiter:
    return AdaptiveLimiter(clock=fake.clock, sleep=fake.sleep, **kwargs)


def test_a_throttle_halves_the_limit_and_counts_a_retry() -> None:
    fake = FakeTime()
    lim = limiter(fake, max_concurrency=8)
    assert (lim.concurrency, lim.retries) == (8, 0)
    lim.throttled(1.0)
    assert (lim.concurrency, lim.retries) == (4, 1)
    fake.now += 1.0  # the pause is over: the next throttle halves again
    lim.throttled(1.0)
    assert (lim.concurrency, lim.retries) == (2, 2)


def test_throttles_of_one_burst_halve_once() -> None:
    fake = FakeTime()
    lim = limiter(fake, max_concurrency=8)
    for _ in range(4):  # four calls that were in flight together all answered 429
        lim.throttled(1.0)
    assert lim.concurrency == 4
    assert lim.retries == 4


def test_the_limit_stops_at_the_minimum() -> None:
    fake = FakeTime()
    lim = limiter(fake, max_concurrency=16, min_concurrency=3)
    for _ in range(10):
        lim.throttled(0.5)
        fake.now += 1.0
    assert lim.concurrency == 3


def test_retry_after_pauses_every_caller() -> None:
    fake = FakeTime()
    lim = limiter(fake)
    lim.throttled(7.0)
    with lim.slot():
        assert fake.now == 7.0
    assert fake.sleeps == [7.0]
    with lim.slot():  # the pause is over
        pass
    assert fake.sleeps == [7.0]


def test_without_retry_after_the_pause_doubles_until_a_success() -> None:
    fake = FakeTime()
    lim = limiter(fake, max_concurrency=64)
    pauses = []
    for _ in range(4):
        lim.throttled(None)
        with lim.slot():
            pass
        pauses.append(fake.sleeps[-1])
    assert pauses == [1.0, 2.0, 4.0, 8.0]
    lim.succeeded()
    lim.throttled(None)
    with lim.slot():
        pass
    assert fake.sleeps[-1] == 1.0


def test_recovery_is_one_step_after_n_successes_in_a_row() -> None:
    fake = FakeTime()
    lim = limiter(fake, max_concurrency=8, recover_after=3)
    lim.throttled(0.0)
    assert lim.concurrency == 4
    lim.succeeded()
    lim.succeeded()
    assert lim.concurrency == 4
    lim.succeeded()
    assert lim.concurrency == 5
    lim.succeeded()
    lim.succeeded()
    fake.now += 1.0
    lim.throttled(0.0)  # a throttle resets the streak
    lim.succeeded()
    assert lim.concurrency == 2


def test_the_limit_never_grows_above_the_maximum() -> None:
    lim = limiter(FakeTime(), max_concurrency=4, recover_after=1)
    lim.throttled(0.0)
    for _ in range(50):
        lim.succeeded()
    assert lim.concurrency == 4


@pytest.mark.parametrize(("most", "least"), [(8, 0), (2, 3)])
def test_bad_bounds_are_refused(most: int, least: int) -> None:
    with pytest.raises(ValueError, match="min_concurrency"):
        AdaptiveLimiter(max_concurrency=most, min_concurrency=least)


def _peak_in_flight(lim: AdaptiveLimiter, threads: int, hold: float) -> int:
    """Run ``threads`` threads through ``lim`` holding each slot ``hold`` s; the most seen at once."""
    lock = threading.Lock()
    state = {"now": 0, "peak": 0}
    start = threading.Barrier(threads)

    def work() -> None:
        start.wait()
        for _ in range(3):
            with lim.slot():
                with lock:
                    state["now"] += 1
                    state["peak"] = max(state["peak"], state["now"])
                time.sleep(hold)
                with lock:
                    state["now"] -= 1

    pool = [threading.Thread(target=work) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(timeout=30)
    assert not any(t.is_alive() for t in pool)
    return state["peak"]


def test_threads_never_exceed_the_limit() -> None:
    lim = AdaptiveLimiter(max_concurrency=3)
    assert _peak_in_flight(lim, threads=12, hold=0.02) == 3
    assert lim.in_flight == 0


def test_threads_never_exceed_a_halved_limit() -> None:
    lim = AdaptiveLimiter(max_concurrency=4, recover_after=1000)
    lim.throttled(0.0)
    assert _peak_in_flight(lim, threads=10, hold=0.01) == 2


def test_one_limiter_per_host() -> None:
    first = limiter_for("https://adb-1.example.net/", 8)
    assert limiter_for("https://ADB-1.example.net", 2) is first
    assert first.max_concurrency == 8
    assert limiter_for("https://adb-2.example.net", 8) is not first
