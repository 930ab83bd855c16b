"""CDC before/after images: the reference model on fixed cases, the SQL against it on DuckDB
(fixed cases and 300 random logs per run), and identifier validation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from platform_ops.core.cdc import (
    CdcMode,
    CdcSpec,
    Dialect,
    NetPlan,
    build_bad_rows_sql,
    build_net_sql,
    build_sql,
    check_snapshot_schema,
    check_source_schema,
    ident,
    query_params,
    snapshot_misalignment,
    staged_table,
    table_name,
)
from platform_ops.exceptions import ConfigError
from tests.cdc_reference import reference, reference_bad_rows

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
    con,
    log: list[dict],
    snapshot: list[dict] | None,
    mode: CdcMode | None = CdcMode.NET,
    plan: NetPlan | None = None,
) -> list[dict]:
    """The rows ``mode``'s query returns; ``mode=None``: the bad-row counts, as one row."""
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
    if mode is None:
        sql = build_bad_rows_sql(SPEC, Dialect.DUCKDB)
        params = {"window_start": WS, "window_end": WE}
        cur = con.execute(sql, params)
        return [dict(zip([d[0] for d in cur.description], cur.fetchone(), strict=True))]
    if mode is CdcMode.NET:
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


def check(con, log, snapshot=None, mode: CdcMode = CdcMode.NET) -> list[dict]:
    """The SQL of ``mode`` (net: both plans) returns exactly what the reference model returns."""
    expected = reference(SPEC, mode, log, snapshot, WS, WE)
    for plan in list(NetPlan) if mode is CdcMode.NET else [None]:
        assert run_sql(con, log, snapshot, mode, plan) == expected, plan
    assert run_sql(con, log, snapshot, None) == [reference_bad_rows(SPEC, log, WS, WE)]
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


def test_bad_rows_are_left_out_and_counted_alike_in_both_modes(con) -> None:
    good = [row(1, "x", "I", 10, 1, "a"), row(1, "x", "U", 12, 3, "b")]
    bad = [
        row(1, "x", "U", None, 2, "null version"),  # in net mode it must not vanish silently
        row(None, "x", "I", 11, 2, "null key"),  # DuckDB's plan dropped it, BigQuery's kept it
        row(1, None, "I", 11, 2, "half a null key"),
        row(1, "x", "u", 13, 4, "lowercase"),  # was an update in net mode, a delete in events mode
        row(1, "x", None, 14, 4, "no type"),
        row(1, "x", "X", 15, -3, "bad, but in the lookback: not this window's to count"),
    ]
    for mode in CdcMode:
        with_bad, without = check(con, good + bad, mode=mode), reference(SPEC, mode, good, None, WS, WE)
        assert with_bad == without, mode
    [net] = check(con, good + bad)
    assert (net["version_after"], net["after"]["name"], net["change_count"]) == (12, "b", 2)
    assert reference_bad_rows(SPEC, good + bad, WS, WE) == {
        "null_key": 2,
        "null_version": 1,
        "unknown_change_type": 2,
        "total": 5,
    }
    assert reference_bad_rows(SPEC, good, WS, WE)["total"] == 0


def test_a_row_with_several_faults_counts_once_in_the_total(con) -> None:
    check(con, [row(None, None, "z", None, 1)])
    assert reference_bad_rows(SPEC, [row(None, None, "z", None, 1)], WS, WE) == {
        "null_key": 1,
        "null_version": 1,
        "unknown_change_type": 1,
        "total": 1,
    }


# -- random logs against the reference ----------------------------------------------------------

keys = st.tuples(st.integers(0, 2), st.sampled_from(["x", "y"]))
# Mostly good rows, and the bad ones a log can hold: a NULL in the key, a NULL version, a change
# type that is not exactly I, U or D (lowercase, unknown, NULL).
log_keys = st.one_of(
    keys,
    keys,
    keys,
    st.tuples(st.none(), st.sampled_from(["x", "y"])),
    st.tuples(st.integers(0, 2), st.none()),
)
change_types = st.one_of(
    st.sampled_from("IUD"), st.sampled_from("IUD"), st.sampled_from(["u", "i", "d", "X", None])
)
versions = st.one_of(st.integers(1, 40), st.integers(1, 40), st.integers(1, 40), st.none())
log_rows = st.lists(
    st.tuples(
        log_keys,
        change_types,
        versions,
        st.integers(-60 * 60, 30 * 60),
        st.sampled_from([None, "p", "q"]),
        st.one_of(st.none(), st.integers(0, 3)),
    ),
    max_size=30,
)
snapshots = st.one_of(
    st.none(), st.lists(st.tuples(keys, st.sampled_from(["s", None]), st.integers(0, 9)), max_size=6)
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
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
    check(con, log, snapshot, CdcMode.EVENTS)


# -- events mode ---------------------------------------------------------------------------------


def test_events_give_every_change_its_own_before_and_after(con) -> None:
    log = [
        row(1, "x", "U", 5, -3, "old", 0),  # in the lookback
        row(1, "x", "U", 12, 2, "b", 2),
        row(1, "x", "D", 13, 4),
        row(1, "x", "I", 14, 5, "c", 3),
        row(1, "x", "U", 11, 6, "a", 1),  # arrives late; version order decides
    ]
    out = check(con, log, mode=CdcMode.EVENTS)
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
        mode=CdcMode.EVENTS,
    )
    assert [(r["a"], r["before_source"], r["before"]) for r in out] == [
        (2, "snapshot", {"name": "s", "qty": 9}),
        (2, "log", {"name": "n1", "qty": 1}),
        (3, "missing", None),
    ]


# -- the SQL itself ------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", list(CdcMode))
@pytest.mark.parametrize("dialect", list(Dialect))
def test_the_log_is_read_once(dialect: Dialect, mode: CdcMode) -> None:
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
    with pytest.raises(ConfigError, match="window") as naive:
        query_params(SPEC, WS.replace(tzinfo=None), WE.replace(tzinfo=None))
    with pytest.raises(ConfigError, match="is empty") as empty:
        query_params(SPEC, WS, WS)
    # core names its own arguments; the operator words it for a DAG (its data interval, timetable)
    assert (naive.value.field, empty.value.field) == ("window_start", "window_end")
    for err in (naive.value, empty.value):
        assert not any(word in str(err) for word in ("timetable", "DAG", "data interval", "param"))


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
    from platform_ops.config_files import load_yaml

    assert load_yaml(REPO_CONFIG)["tables"]
    with pytest.raises(ConfigError, match="does not exist"):
        load_yaml(tmp_path / "none.yaml")
    (tmp_path / "bad.yaml").write_text("tables: [\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_yaml(tmp_path / "bad.yaml")
    (tmp_path / "list.yaml").write_text("- a\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_yaml(tmp_path / "list.yaml")


# -- checks before running -----------------------------------------------------------------------

DUCKDB_LOG = {
    "a": "INTEGER",
    "b": "VARCHAR",
    "name": "VARCHAR",
    "qty": "INTEGER",
    "changetrack_type": "VARCHAR",
    "changetrack_ver": "BIGINT",
    "bigquery_insert_time": "TIMESTAMP WITH TIME ZONE",
}
BIGQUERY_LOG = DUCKDB_LOG | {
    "a": "INTEGER",
    "b": "STRING",
    "name": "STRING",
    "qty": "INT64",
    "changetrack_type": "STRING",
    "changetrack_ver": "INT64",
    "bigquery_insert_time": "TIMESTAMP",
}


def test_a_source_of_the_right_shape_passes() -> None:
    check_source_schema(SPEC, DUCKDB_LOG, Dialect.DUCKDB)
    check_source_schema(SPEC, BIGQUERY_LOG, Dialect.BIGQUERY)
    check_source_schema(SPEC, {k.upper(): v for k, v in DUCKDB_LOG.items()}, Dialect.DUCKDB)
    check_snapshot_schema(SPEC, SNAP, {"a": "INTEGER", "b": "VARCHAR", "name": "VARCHAR", "qty": "BIGINT"})


@pytest.mark.parametrize(
    ("dialect", "change", "field", "words"),
    [
        (Dialect.DUCKDB, {"changetrack_ver": "VARCHAR"}, "version_column", "VARCHAR, not an integer"),
        (Dialect.DUCKDB, {"changetrack_ver": "DECIMAL(18,0)"}, "version_column", "not an integer"),
        (Dialect.BIGQUERY, {"changetrack_ver": "STRING"}, "version_column", "STRING, not an integer"),
        (Dialect.BIGQUERY, {"changetrack_ver": "NUMERIC"}, "version_column", "not an integer"),
        (Dialect.DUCKDB, {"a": None}, "primary_key", "'a' is not a column of main.log"),
        (Dialect.BIGQUERY, {"b": None}, "primary_key", "'b' is not a column of main.log"),
        (Dialect.DUCKDB, {"qty": None}, "columns", "'qty' is not a column"),
        (Dialect.DUCKDB, {"changetrack_ver": None}, "version_column", "is not a column"),
        (Dialect.DUCKDB, {"changetrack_type": "INTEGER"}, "type_column", "not a string"),
        (Dialect.BIGQUERY, {"bigquery_insert_time": "DATETIME"}, "inserted_at_column", "not a TIMESTAMP"),
        (Dialect.DUCKDB, {"bigquery_insert_time": "TIMESTAMP"}, "inserted_at_column", "not a TIMESTAMP"),
    ],
)
def test_a_source_of_the_wrong_shape_is_refused_naming_the_field(
    dialect: Dialect, change: dict, field: str, words: str
) -> None:
    base = DUCKDB_LOG if dialect is Dialect.DUCKDB else BIGQUERY_LOG
    schema = {k: v for k, v in (base | change).items() if v is not None}
    with pytest.raises(ConfigError, match=words) as err:
        check_source_schema(SPEC, schema, dialect)
    assert err.value.field == field


def test_a_snapshot_without_the_key_or_a_tracked_column_is_refused() -> None:
    with pytest.raises(ConfigError, match="'b' is not a column of the snapshot") as err:
        check_snapshot_schema(SPEC, SNAP, {"a": "INTEGER", "name": "VARCHAR", "qty": "BIGINT"})
    assert err.value.field == "snapshot_table_prefix"
    with pytest.raises(ConfigError, match="'qty'"):
        check_snapshot_schema(SPEC, SNAP, {"a": "INTEGER", "b": "VARCHAR", "name": "VARCHAR"})


@pytest.mark.parametrize(
    ("zone", "window_start"),
    [
        ("Asia/Tokyo", WS),  # the DAG's Tokyo day
        ("UTC", datetime(2026, 11, 22, tzinfo=UTC)),  # a UTC day, read with a UTC snapshot
        ("Etc/GMT+9", datetime(2026, 11, 22, 9, tzinfo=UTC)),
    ],
)
def test_a_window_at_local_midnight_fits_the_snapshot_zone(zone: str, window_start: datetime) -> None:
    assert snapshot_misalignment(zone, window_start) is None


@pytest.mark.parametrize("zone", ["UTC", "Etc/GMT+9", "America/New_York"])
def test_a_tokyo_window_does_not_fit_another_snapshot_zone(zone: str) -> None:
    problem = snapshot_misalignment(zone, WS)
    assert problem is not None
    assert zone in problem
    assert "not at midnight" in problem


def test_an_unknown_snapshot_zone_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as err:
        snapshot_misalignment("Mars/Olympus", WS)
    assert err.value.field == "snapshot_timezone"


def test_each_run_has_its_own_staging_table_and_its_retries_reuse_it() -> None:
    run_a = staged_table("ds.dest", "dag", "scheduled__2026-11-22", "orders", -1)
    assert run_a == staged_table("ds.dest", "dag", "scheduled__2026-11-22", "orders", -1), "try-independent"
    others = {
        staged_table("ds.dest", "dag", "manual__2026-11-22", "orders", -1),
        staged_table("ds.dest", "other_dag", "scheduled__2026-11-22", "orders", -1),
        staged_table("ds.dest", "dag", "scheduled__2026-11-22", "lines", -1),
        staged_table("ds.dest", "dag", "scheduled__2026-11-22", "orders", 0),
        staged_table("ds.dest", "dag", "scheduled__2026-11-2", "2orders", -1),  # no ambiguous joins
    }
    assert run_a not in others
    assert len(others) == 5
    assert run_a.startswith("ds.dest__staged_")
    table_name("staged", run_a)


@pytest.mark.parametrize("check", [ident, table_name])
def test_a_trailing_newline_is_not_a_name(check) -> None:
    with pytest.raises(ConfigError):
        check("field", "orders\n")


def test_a_trailing_newline_is_not_a_suffix_format() -> None:
    with pytest.raises(ConfigError) as err:
        CdcSpec(
            source_table="main.log", primary_key=("a",), columns=("b",), snapshot_suffix_format="%y%m%d\n"
        )
    assert err.value.field == "snapshot_suffix_format"


def test_step_job_ids_are_valid_fixed_per_run_step_and_attempt() -> None:
    import re

    from platform_ops.core.cdc import step_job_id

    run = ("dag", "scheduled__2026-11-21T15:00:00+00:00 é/ü", "task", 3)  # any run id
    job_id = step_job_id("compute", 0, *run)
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,1024}", job_id), job_id
    assert job_id == step_job_id("compute", 0, *run), "the same step of the same run: the same id"
    others = {
        step_job_id("merge", 0, *run),
        step_job_id("compute", 1, *run),
        step_job_id("compute", 0, "dag", run[1], "task", 4),
        step_job_id("compute", 0, "da", "g" + run[1], "task", 3),
    }
    assert job_id not in others
    assert len(others) == 4, "each differs from the others too"
    with pytest.raises(ConfigError):
        step_job_id("Compute step", 0, *run)
