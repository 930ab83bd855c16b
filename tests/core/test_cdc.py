"""CDC before/after images: the reference model on fixed cases, the SQL against it on DuckDB
(fixed cases and >= 1000 random logs), and identifier validation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from platform_ops.core.cdc import (
    CdcSpec,
    Dialect,
    Mode,
    NetPlan,
    build_net_sql,
    build_sql,
    query_params,
    reference,
)
from platform_ops.exceptions import ConfigError

WS = datetime(2026, 11, 21, 15, tzinfo=UTC)  # 2026-11-22 00:00 in Tokyo
WE = WS + timedelta(days=1)
SPEC = CdcSpec(
    source_table="main.log",
    primary_key=("a", "b"),
    columns=("name", "qty"),
    snapshot_table_prefix="main.snap_",
)
LOG_COLS = ["a", "b", "name", "qty", "changetrack_type", "changetrack_ver", "bigquery_insert_time"]
SNAP = f"main.snap_{SPEC.snapshot_suffix(WS)}"
REPO_CONFIG = Path(__file__).resolve().parents[2] / "include" / "config" / "cdc_tables.yaml"


def row(a, b, op, ver, hours, name="n", qty=1) -> dict:
    return {
        "a": a,
        "b": b,
        "name": name,
        "qty": qty,
        "changetrack_type": op,
        "changetrack_ver": ver,
        "bigquery_insert_time": WS + timedelta(hours=hours),
    }


@pytest.fixture(scope="module")
def con():
    c = duckdb.connect()
    yield c
    c.close()


def run_sql(
    con, log: list[dict], snapshot: list[dict] | None, mode: Mode = Mode.NET, plan: NetPlan | None = None
) -> list[dict]:
    con.execute("DROP TABLE IF EXISTS log")
    con.execute(
        "CREATE TABLE log (a INTEGER, b VARCHAR, name VARCHAR, qty INTEGER, changetrack_type VARCHAR, "
        "changetrack_ver BIGINT, bigquery_insert_time TIMESTAMPTZ)"
    )
    if log:
        con.executemany(
            "INSERT INTO log VALUES (?, ?, ?, ?, ?, ?, ?)", [[r[c] for c in LOG_COLS] for r in log]
        )
    con.execute(f"DROP TABLE IF EXISTS {SNAP}")
    snapshot_table = None
    if snapshot is not None:
        con.execute(f"CREATE TABLE {SNAP} (a INTEGER, b VARCHAR, name VARCHAR, qty INTEGER)")
        if snapshot:
            con.executemany(
                f"INSERT INTO {SNAP} VALUES (?, ?, ?, ?)",
                [[r["a"], r["b"], r["name"], r["qty"]] for r in snapshot],
            )
        snapshot_table = SNAP
    params = query_params(SPEC, WS, WE)
    params.pop("snapshot_suffix")
    if mode is Mode.NET:
        sql = build_net_sql(SPEC, Dialect.DUCKDB, snapshot_table=snapshot_table, plan=plan)
    else:
        sql = build_sql(SPEC, Dialect.DUCKDB, mode, snapshot_table=snapshot_table)
    cur = con.execute(sql, params)
    names = [d[0] for d in cur.description]
    out = []
    for values in cur.fetchall():
        rec = dict(zip(names, values, strict=True))
        assert (rec.pop("window_start"), rec.pop("window_end")) == (WS, WE)
        out.append(rec)
    return out


def check(con, log, snapshot=None, mode: Mode = Mode.NET) -> list[dict]:
    """The SQL of ``mode`` (net: both plans) returns exactly what the reference model returns."""
    expected = reference(SPEC, mode, log, snapshot, WS, WE)
    for plan in list(NetPlan) if mode is Mode.NET else [None]:
        assert run_sql(con, log, snapshot, mode, plan) == expected, plan
    return expected


# -- fixed cases ---------------------------------------------------------------------------------


def test_insert_then_updates_in_the_window(con) -> None:
    [r] = check(
        con,
        [row(1, "x", "I", 10, 1, "a", 1), row(1, "x", "U", 12, 2, "b", 2), row(1, "x", "U", 11, 3, "c", 3)],
    )
    # version order decides: version 12 is the last change even though 11 arrived later
    assert (r["op"], r["after"], r["change_count"], r["before_source"]) == (
        "c",
        {"name": "b", "qty": 2},
        3,
        "none",
    )


def test_before_from_the_log_within_the_lookback(con) -> None:
    [r] = check(con, [row(1, "x", "I", 5, -30, "old", 0), row(1, "x", "U", 9, 2, "new", 1)])
    assert (r["op"], r["before"], r["version_before"], r["before_source"]) == (
        "u",
        {"name": "old", "qty": 0},
        5,
        "log",
    )


def test_rows_older_than_the_lookback_are_not_used(con) -> None:
    [r] = check(con, [row(1, "x", "I", 5, -49, "old"), row(1, "x", "U", 9, 2, "new")])
    assert r["before_source"] == "missing"


def test_before_from_the_snapshot_of_the_previous_tokyo_day(con) -> None:
    [r] = check(con, [row(1, "x", "D", 9, 2)], snapshot=[{"a": 1, "b": "x", "name": "snap", "qty": 7}])
    assert (r["op"], r["before"], r["after"], r["before_source"]) == (
        "d",
        {"name": "snap", "qty": 7},
        None,
        "snapshot",
    )
    assert SPEC.snapshot_suffix(WS) == "261121"  # the window starts 2026-11-22 in Tokyo


def test_missing_before_is_reported(con) -> None:
    [r] = check(con, [row(1, "x", "U", 9, 2)], snapshot=[])
    assert (r["op"], r["before_source"]) == ("c", "missing")


def test_redelivered_version_keeps_the_latest_insert(con) -> None:
    [r] = check(con, [row(1, "x", "I", 9, 1, "first"), row(1, "x", "I", 9, 5, "second")])
    assert (r["after"]["name"], r["change_count"]) == ("second", 1)


def test_delete_before_the_window_means_no_before_image(con) -> None:
    [r] = check(con, [row(1, "x", "I", 3, -10), row(1, "x", "D", 4, -5), row(1, "x", "I", 7, 1, "again")])
    assert (r["op"], r["before"], r["before_source"], r["version_before"]) == ("c", None, "log", 4)


def test_composite_keys_and_null_columns(con) -> None:
    out = check(con, [row(1, "x", "I", 1, 1, None, None), row(1, "y", "I", 2, 1), row(2, "x", "D", 3, 1)])
    assert [(r["a"], r["b"]) for r in out] == [(1, "x"), (1, "y"), (2, "x")]
    assert out[0]["after"] == {"name": None, "qty": None}


def test_empty_window_and_rows_outside_it(con) -> None:
    assert check(con, []) == []
    assert check(con, [row(1, "x", "I", 1, -5), row(1, "x", "U", 2, 24)]) == []  # before W / at W's end


def test_all_deletes(con) -> None:
    out = check(
        con, [row(i, "x", "D", i, 1) for i in range(5)], snapshot=[{"a": 0, "b": "x", "name": "s", "qty": 0}]
    )
    assert {r["op"] for r in out} == {"d"}
    assert [r["before_source"] for r in out] == ["snapshot", "missing", "missing", "missing", "missing"]


# -- random logs against the reference ----------------------------------------------------------

keys = st.tuples(st.integers(0, 2), st.sampled_from(["x", "y"]))
log_rows = st.lists(
    st.tuples(
        keys,
        st.sampled_from("IUD"),
        st.integers(1, 40),
        st.integers(-60 * 60, 30 * 60),
        st.sampled_from([None, "p", "q"]),
        st.one_of(st.none(), st.integers(0, 3)),
    ),
    max_size=30,
)
snapshots = st.one_of(
    st.none(), st.lists(st.tuples(keys, st.sampled_from(["s", None]), st.integers(0, 9)), max_size=6)
)


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(log_rows, snapshots)
def test_duckdb_matches_the_reference_on_random_logs(con, rows, snap) -> None:
    log = [
        {
            "a": k[0],
            "b": k[1],
            "name": name,
            "qty": qty,
            "changetrack_type": op,
            "changetrack_ver": ver,
            # unique arrival times (the index breaks ties), in minutes around the window
            "bigquery_insert_time": WS + timedelta(minutes=minutes, microseconds=i),
        }
        for i, (k, op, ver, minutes, name, qty) in enumerate(rows)
    ]
    snapshot = (
        None
        if snap is None
        else list({k: {"a": k[0], "b": k[1], "name": n, "qty": q} for k, n, q in snap}.values())
    )
    check(con, log, snapshot)
    check(con, log, snapshot, Mode.EVENTS)


# -- events mode ---------------------------------------------------------------------------------


def test_events_give_every_change_its_own_before_and_after(con) -> None:
    log = [
        row(1, "x", "U", 5, -3, "old", 0),  # in the lookback
        row(1, "x", "U", 12, 2, "b", 2),
        row(1, "x", "D", 13, 4),
        row(1, "x", "I", 14, 5, "c", 3),
        row(1, "x", "U", 11, 6, "a", 1),  # arrives late; version order decides
    ]
    out = check(con, log, mode=Mode.EVENTS)
    assert [(r["version_before"], r["version_after"], r["op"]) for r in out] == [
        (5, 11, "u"),
        (11, 12, "u"),
        (12, 13, "d"),
        (13, 14, "c"),
    ]
    assert [r["before"] for r in out] == [
        {"name": "old", "qty": 0},
        {"name": "a", "qty": 1},
        {"name": "b", "qty": 2},
        None,
    ]
    assert out[2]["after"] is None
    assert out[1]["changed_at"] == WS + timedelta(hours=2)


def test_events_take_the_first_before_from_the_snapshot(con) -> None:
    out = check(
        con,
        [row(2, "y", "U", 20, 1, "n1"), row(2, "y", "U", 21, 2, "n2"), row(3, "y", "D", 22, 1)],
        snapshot=[{"a": 2, "b": "y", "name": "s", "qty": 9}],
        mode=Mode.EVENTS,
    )
    assert [(r["a"], r["before_source"], r["before"]) for r in out] == [
        (2, "snapshot", {"name": "s", "qty": 9}),
        (2, "log", {"name": "n1", "qty": 1}),
        (3, "missing", None),
    ]


# -- the SQL itself ------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", list(Mode))
@pytest.mark.parametrize("dialect", list(Dialect))
def test_the_log_is_read_once(dialect: Dialect, mode: Mode) -> None:
    sql = build_sql(SPEC, dialect, mode, snapshot_table=SNAP if dialect is Dialect.DUCKDB else None)
    source = "`main.log`" if dialect is Dialect.BIGQUERY else '"main"."log"'
    assert sql.count(source) == 1
    assert "now()" not in sql.lower()
    assert "current_timestamp" not in sql.lower()


def test_bigquery_reads_the_snapshot_family_by_suffix() -> None:
    sql = build_net_sql(SPEC, Dialect.BIGQUERY)
    assert "FROM `main.snap_*` WHERE _TABLE_SUFFIX = @snapshot_suffix" in sql
    assert "@window_start" in sql
    assert "@lookback_start" in sql
    assert query_params(SPEC, WS, WE)["lookback_start"] == WS - timedelta(days=2)


@pytest.mark.parametrize(
    ("field", "kw"),
    [
        ("source_table", {"source_table": "main.log; DROP TABLE x"}),
        ("source_table", {"source_table": "a.b.c.d"}),
        ("source_table", {"source_table": "proj.data-set.t"}),
        ("primary_key", {"primary_key": ("id) OR 1=1 --",)}),
        ("primary_key", {"primary_key": ()}),
        ("columns", {"columns": ("name", "qty`; --")}),
        ("columns", {"columns": ("name", "a")}),
        ("type_column", {"type_column": "t y p e"}),
        ("snapshot_table_prefix", {"snapshot_table_prefix": "x` UNION SELECT 1 --"}),
        ("snapshot_suffix_format", {"snapshot_suffix_format": "%y'; --"}),
        ("snapshot_timezone", {"snapshot_timezone": "Mars/Olympus"}),
        ("lookback", {"lookback": timedelta(days=-1)}),
    ],
)
def test_bad_specs_are_rejected(field: str, kw: dict) -> None:
    args = {"source_table": "main.log", "primary_key": ("a", "b"), "columns": ("name", "qty")} | kw
    with pytest.raises(ConfigError) as err:
        CdcSpec(**args)
    assert err.value.field == field


def test_naive_or_empty_windows_are_rejected() -> None:
    with pytest.raises(ConfigError, match="window"):
        query_params(SPEC, WS.replace(tzinfo=None), WE.replace(tzinfo=None))
    with pytest.raises(ConfigError, match="interval timetable"):
        query_params(SPEC, WS, WS)


def test_table_configs_filter_and_reject_unknown_names() -> None:
    from platform_ops.core.cdc import table_configs

    config = {"tables": [{"name": "orders", "source_table": "s.o"}, {"name": "lines", "source_table": "s.l"}]}
    out = table_configs(config, ["lines"], timedelta(hours=3), "net")
    assert out == [{"source_table": "s.l", "lookback": timedelta(hours=3), "mode": "net"}]
    assert len(table_configs(config, [], timedelta(0), "net")) == 2
    with pytest.raises(ConfigError, match="unknown table"):
        table_configs(config, ["nope"], timedelta(0), "net")
    with pytest.raises(ConfigError, match=r"^mode: 'diff' is not a mode"):
        table_configs(config, [], timedelta(0), "diff")


def test_events_mode_writes_beside_the_net_destination() -> None:
    from platform_ops.core.cdc import table_configs

    config = {
        "tables": [
            {"name": "a", "destination_table": "d.a_ba"},
            {"name": "b", "destination_table": "d.b_ba", "events_destination_table": "d.b_changes"},
        ]
    }
    out = table_configs(config, [], timedelta(0), "events")
    assert [t["destination_table"] for t in out] == ["d.a_ba_events", "d.b_changes"]
    assert [t["destination_table"] for t in table_configs(config, [], timedelta(0), "net")] == [
        "d.a_ba",
        "d.b_ba",
    ]


def test_load_yaml_errors_name_the_file(tmp_path) -> None:
    from platform_ops.core.config import load_yaml

    assert load_yaml(REPO_CONFIG)["tables"]
    with pytest.raises(ConfigError, match="does not exist"):
        load_yaml(tmp_path / "none.yaml")
    (tmp_path / "bad.yaml").write_text("tables: [\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_yaml(tmp_path / "bad.yaml")
    (tmp_path / "list.yaml").write_text("- a\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_yaml(tmp_path / "list.yaml")
