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
    parse_version_name,
    unescape_run_id,
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
    assert key == "run_id=manual__2026-11-21T10=3a00=3a00+00=3a00"
    assert parse_date_key(key) is None


def test_run_ids_differing_only_in_unsafe_characters_get_their_own_folders() -> None:
    ids = ["a:b", "a/b", "a_b", "a b", "a=b", "a.b", "a..b", "aéb", "a\nb"]
    keys = [date_key(None, run_id) for run_id in ids]
    assert len(set(keys)) == len(ids), keys
    for key in keys:
        validate_segment("run_id", key)


@given(st.text(min_size=1))
def test_run_id_escaping_is_reversible_and_safe(run_id: str) -> None:
    key = date_key(None, run_id)
    assert validate_segment("run_id", key) == key
    assert unescape_run_id(key.removeprefix("run_id=")) == run_id


@pytest.mark.parametrize("bad", ["abc\n", "dag\n", "a\r"])
def test_a_trailing_newline_is_not_a_safe_segment(bad: str) -> None:
    with pytest.raises(ConfigError, match="dag_id"):
        validate_segment("dag_id", bad)


def test_a_trailing_newline_is_not_a_document_name() -> None:
    with pytest.raises(ConfigError, match="name"):
        DocKey("dag", "task", "2026-11-21T000000Z", "run_results\n")


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


def test_a_later_runs_copy_of_a_try_is_a_version_of_that_try() -> None:
    assert parse_version_name(version_file(3, 2)) == (3, 2)
    assert parse_version_name(version_file(3)) == (3, 0)
    assert parse_version_file("try-0003.2.json") == 3


@pytest.mark.parametrize(
    "name",
    [
        "try-1.json",
        ".try-0001.json.abc.tmp",
        "latest.json",
        "try-0001.json.tmp",
        "try-0001.json\n",
        "try-0001.0.json",
    ],
)
def test_strays_are_not_versions(name: str) -> None:
    assert parse_version_file(name) is None
