"""The package's one waiting policy (core/waiting.py), on a fake clock: no real sleeps."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from platform_ops.core.waiting import Unsettled, doubling_delay, poll
from tests.fake_time import FakeTime


def answers(*values: object) -> Callable[[], object]:
    """A read returning (or raising) each value in turn, then the last one forever."""
    queue = list(values)

    def read() -> object:
        value = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(value, BaseException):
            raise value
        return value

    return read


class Flaky(Exception):
    pass


def test_an_answer_that_settles_is_returned_after_one_interval_per_unsettled_read() -> None:
    t = FakeTime()
    seen: list[tuple[object, object, float]] = []
    result = poll(
        answers("pending", "pending", "available"),
        deadline=t.now + 60,
        interval=5,
        settled=lambda state: state == "available",
        on_wait=lambda answer, error, delay: seen.append((answer, error, delay)),
        clock=t.clock,
        sleep=t.sleep,
    )
    assert result == "available"
    assert t.sleeps == [5, 5]
    assert seen == [("pending", None, 5), ("pending", None, 5)]


def test_transient_errors_are_retried_and_others_end_the_wait_at_once() -> None:
    t = FakeTime()
    read = answers(Flaky("503"), "done")
    assert (
        poll(
            read,
            deadline=t.now + 60,
            interval=1,
            transient=lambda e: isinstance(e, Flaky),
            clock=t.clock,
            sleep=t.sleep,
        )
        == "done"
    )

    t = FakeTime()
    with pytest.raises(ValueError, match="bad request"):
        poll(
            answers(ValueError("bad request"), "done"),
            deadline=t.now + 60,
            interval=1,
            transient=lambda e: isinstance(e, Flaky),
            clock=t.clock,
            sleep=t.sleep,
        )
    assert t.sleeps == []


def test_the_last_sleep_never_overshoots_the_deadline_and_the_last_answer_is_kept() -> None:
    t = FakeTime()
    with pytest.raises(Unsettled) as still:
        poll(
            answers("pending"),
            deadline=t.now + 12,
            interval=5,
            settled=lambda s: s == "ok",
            clock=t.clock,
            sleep=t.sleep,
        )
    assert t.sleeps == [5, 5, 2]  # 12 s in all, the read at the deadline included
    assert t.now == 12
    assert still.value.result == "pending"
    assert still.value.error is None


def test_a_wait_that_ends_on_transient_errors_says_which() -> None:
    t = FakeTime()
    with pytest.raises(Unsettled) as still:
        poll(
            answers(Flaky("timeout")),
            deadline=t.now + 3,
            interval=1,
            transient=lambda e: isinstance(e, Flaky),
            clock=t.clock,
            sleep=t.sleep,
        )
    assert isinstance(still.value.error, Flaky)
    assert "timeout" in str(still.value)


def test_doubling_delay_doubles_up_to_its_cap() -> None:
    assert [doubling_delay(5, 60, n) for n in range(1, 7)] == [5, 10, 20, 40, 60, 60]
