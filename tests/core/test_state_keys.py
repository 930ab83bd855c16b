from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from platform_ops.core.state_keys import (
    DocKey,
    date_key,
    parse_date_key,
    parse_version_file,
    validate_segment,
    version_file,
)
from platform_ops.exceptions import ConfigError


def test_date_key_is_utc_and_sortable() -> None:
    tokyo = timezone(timedelta(hours=9))
    assert date_key(datetime(2026, 11, 22, 9, 0, tzinfo=tokyo)) == "2026-11-22T000000Z"
    assert date_key(datetime(2026, 11, 21, 23, 59, 59, tzinfo=UTC)) == "2026-11-21T235959Z"


@given(st.datetimes(timezones=st.just(UTC)))
def test_date_key_round_trips(dt: datetime) -> None:
    assert parse_date_key(date_key(dt)) == dt.replace(microsecond=0)


@given(st.datetimes(timezones=st.just(UTC)), st.datetimes(timezones=st.just(UTC)))
def test_date_key_order_matches_time_order(a: datetime, b: datetime) -> None:
    if a.replace(microsecond=0) < b.replace(microsecond=0):
        assert date_key(a) < date_key(b)


def test_run_id_key_is_made_safe() -> None:
    key = date_key(None, "manual__2026-11-21T10:00:00+00:00")
    assert key == "run_id=manual__2026-11-21T10_00_00+00_00"
    assert parse_date_key(key) is None


@pytest.mark.parametrize("bad", ["", "..", "a/b", ".hidden", "a..b", "x y", "é"])
def test_unsafe_segments_are_rejected(bad: str) -> None:
    with pytest.raises(ConfigError, match="dag_id"):
        validate_segment("dag_id", bad)


def test_grouped_task_ids_are_allowed() -> None:
    assert DocKey("dag", "group.task", "2026-11-21T000000Z", "run_results").latest == (
        "dag",
        "group.task",
        "2026-11-21T000000Z",
        "run_results.json",
    )


@pytest.mark.parametrize("n", [0, 1, 9999, 12345])
def test_version_file_round_trip(n: int) -> None:
    assert parse_version_file(version_file(n)) == n


@pytest.mark.parametrize("bad", [-1, True, "3", 1.0])
def test_version_file_rejects_bad_try_numbers(bad: object) -> None:
    with pytest.raises(ConfigError, match="try_number"):
        version_file(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["try-1.json", ".try-0001.json.abc.tmp", "latest.json", "try-0001.json.tmp"])
def test_strays_are_not_versions(name: str) -> None:
    assert parse_version_file(name) is None
