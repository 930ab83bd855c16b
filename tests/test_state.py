"""RunStateStore on file:// (atomicity, concurrency, crashes) and on s3:// against a moto server."""

from __future__ import annotations

import json
import logging
import multiprocessing as mp
import os
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest

from platform_ops.exceptions import ConfigError
from platform_ops.state import (
    STALE_TEMP_SECONDS,
    STATE_ROOT_ENV,
    WRITER_FIELD,
    RunStateStore,
    default_state_root,
    resolve_state_root,
)

REPO = Path(__file__).resolve().parents[1]
DATE = datetime(2026, 11, 21, tzinfo=UTC)
KEY = ("dbt_transform", "dbt_run", DATE, "run_results")


def stored(raw: str | bytes) -> Any:
    """A stored document as its writer passed it (without the writer the store records)."""
    doc = json.loads(raw)
    doc.pop(WRITER_FIELD)
    return doc


@pytest.fixture
def store(tmp_path: Path) -> RunStateStore:
    return RunStateStore(f"file://{tmp_path}/state")


def test_put_then_get_latest_and_each_version(store: RunStateStore, tmp_path: Path) -> None:
    url1 = store.put({"try": 1}, *KEY, try_number=1)
    store.put({"try": 2}, *KEY, try_number=2)

    assert store.get_latest(*KEY) == {"try": 2}
    assert store.get_version(*KEY, try_number=1) == {"try": 1}
    assert store.get_version(*KEY, try_number=2) == {"try": 2}
    assert store.list_versions(*KEY) == [1, 2]
    assert url1 == f"file://{tmp_path}/state/dbt_transform/dbt_run/2026-11-21T000000Z/run_results.json"
    on_disk = tmp_path / "state/dbt_transform/dbt_run/2026-11-21T000000Z/run_results.versions/try-0001.json"
    assert stored(on_disk.read_text()) == {"try": 1}
    written_by = json.loads(on_disk.read_text())[WRITER_FIELD]
    assert written_by == {"writer": store._token, "run_id": None, "try_number": 1}, (
        "outside a task: the store"
    )


def test_same_try_overwrites_its_own_version(store: RunStateStore) -> None:
    store.put({"n": 1}, *KEY, try_number=3)
    store.put({"n": 2}, *KEY, try_number=3)
    assert store.list_versions(*KEY) == [3]
    assert store.get_version(*KEY, try_number=3) == {"n": 2}


def test_logical_dates_are_kept_apart(store: RunStateStore) -> None:
    other = datetime(2026, 11, 22, tzinfo=UTC)
    store.put({"d": 21}, "d", "t", DATE, "doc", try_number=1)
    store.put({"d": 22}, "d", "t", other, "doc", try_number=1)
    assert store.get_latest("d", "t", DATE, "doc") == {"d": 21}
    assert store.get_latest("d", "t", other, "doc") == {"d": 22}


def test_run_without_logical_date_is_keyed_by_run_id(store: RunStateStore) -> None:
    store.put({"x": 1}, "d", "t", None, "doc", try_number=1, run_id="manual__2026-11-21T10:00:00+00:00")
    assert store.get_latest("d", "t", None, "doc", run_id="manual__2026-11-21T10:00:00+00:00") == {"x": 1}
    with pytest.raises(ConfigError, match="logical_date"):
        store.get_latest("d", "t", None, "doc")


@pytest.mark.parametrize("content", [b"", b"   \n", b"{not json", b"\xff\xfe", b"null"])
def test_missing_empty_or_corrupt_reads_as_none_with_warning(
    store: RunStateStore, tmp_path: Path, content: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="platform_ops.state")
    assert store.get_latest(*KEY) is None
    assert "No run state" in caplog.text
    caplog.clear()

    store.put({"ok": True}, *KEY, try_number=1)
    latest = tmp_path / "state/dbt_transform/dbt_run/2026-11-21T000000Z/run_results.json"
    latest.write_bytes(content)
    assert store.get_latest(*KEY) is None
    assert "treating as no state" in caplog.text


@pytest.mark.parametrize(
    ("field", "args"),
    [
        ("dag_id", ("../etc", "t", DATE, "doc")),
        ("task_id", ("d", "a/b", DATE, "doc")),
        ("name", ("d", "t", DATE, "run results")),
        ("logical_date", ("d", "t", datetime(2026, 1, 1), "doc")),
    ],
)
def test_bad_keys_are_rejected_before_any_write(
    store: RunStateStore, tmp_path: Path, field: str, args: tuple
) -> None:
    with pytest.raises(ConfigError, match=field):
        store.put({"a": 1}, *args, try_number=1)
    assert not (tmp_path / "state").exists()


def test_unserialisable_doc_is_rejected(store: RunStateStore) -> None:
    with pytest.raises(ConfigError, match="doc"):
        store.put(None, *KEY, try_number=1)


def test_bad_root_names_the_setting() -> None:
    with pytest.raises(ConfigError, match="platform_ops_state_root"):
        RunStateStore("ftp://host/x")


def test_root_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(STATE_ROOT_ENV, raising=False)
    monkeypatch.delenv("AIRFLOW_VAR_PLATFORM_OPS_STATE_ROOT", raising=False)
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    assert resolve_state_root() == default_state_root() == f"file://{tmp_path}/state"
    monkeypatch.setenv(STATE_ROOT_ENV, "file:///from/env")
    assert resolve_state_root() == "file:///from/env"
    monkeypatch.setenv("AIRFLOW_VAR_PLATFORM_OPS_STATE_ROOT", "s3://from-variable/x")
    assert resolve_state_root() == "s3://from-variable/x"
    assert resolve_state_root("gs://explicit/y") == "gs://explicit/y"


def _writer(root: str, who: str, rounds: int, start: Any, seen: Any) -> None:
    store = RunStateStore(root)
    start.wait(120)  # every writer and the reader ready: the writes overlap the reads
    for i in range(rounds):
        # A large document makes a torn write visible if the rename were not atomic.
        store.put({"who": who, "i": i, "pad": [who] * 5000}, *KEY, try_number=1)
    seen.wait(120)  # stay until the reader has read a document, however slow its polling


def test_two_concurrent_writers_never_tear_a_document(tmp_path: Path) -> None:
    root = f"file://{tmp_path}/state"
    ctx = mp.get_context("spawn")
    start, first_read = ctx.Barrier(3), ctx.Event()
    procs = [ctx.Process(target=_writer, args=(root, who, 60, start, first_read)) for who in ("a", "b")]
    for p in procs:
        p.start()
    reader = RunStateStore(root)
    seen = 0
    start.wait(120)
    while any(p.is_alive() for p in procs):
        doc = reader.get_latest(*KEY)
        if doc is not None:
            assert doc["pad"] == [doc["who"]] * 5000
            seen += 1
            first_read.set()
    for p in procs:
        p.join()
        assert p.exitcode == 0
    final = reader.get_latest(*KEY)
    assert final["i"] == 59
    assert final["who"] in {"a", "b"}
    folder = tmp_path / "state/dbt_transform/dbt_run/2026-11-21T000000Z"
    assert not [p for p in folder.rglob("*.tmp")], "temp files left behind"
    assert seen > 0


def test_crash_between_temp_write_and_rename_keeps_previous_version(tmp_path: Path) -> None:
    root = f"file://{tmp_path}/state"
    RunStateStore(root).put({"v": "previous"}, *KEY, try_number=1)
    # A separate process writes its temp file and dies (os._exit) at the moment it would rename
    # (or link: a new version file is created by a hard link that fails if the name is taken).
    script = textwrap.dedent(
        f"""
        import os, sys
        from datetime import datetime, UTC
        sys.path.insert(0, {str(REPO / "plugins")!r})
        from platform_ops.state import RunStateStore
        os.replace = os.link = lambda src, dst: os._exit(17)
        RunStateStore({root!r}).put({{"v": "new"}}, "dbt_transform", "dbt_run",
            datetime(2026, 11, 21, tzinfo=UTC), "run_results", try_number=2)
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], env=os.environ.copy(), check=False)
    assert proc.returncode == 17
    store = RunStateStore(root)
    assert store.get_latest(*KEY) == {"v": "previous"}
    assert store.list_versions(*KEY) == [1]  # the orphaned temp file is not a version
    assert list((tmp_path / "state").rglob("*.tmp")), "the crash should have left its temp file"


@pytest.mark.integration
def test_s3_root_against_moto_server(aws_conn: str, moto_endpoint: str) -> None:
    s3 = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    s3.create_bucket(Bucket="platform-ops-state")
    store = RunStateStore("s3://platform-ops-state/runs", conn_id=aws_conn)

    assert store.get_latest(*KEY) is None
    url = store.put({"try": 1}, *KEY, try_number=1)
    store.put({"try": 2}, *KEY, try_number=2)

    assert url == "s3://platform-ops-state/runs/dbt_transform/dbt_run/2026-11-21T000000Z/run_results.json"
    assert store.get_latest(*KEY) == {"try": 2}
    assert store.get_version(*KEY, try_number=1) == {"try": 1}
    assert store.list_versions(*KEY) == [1, 2]
    body = s3.get_object(
        Bucket="platform-ops-state",
        Key="runs/dbt_transform/dbt_run/2026-11-21T000000Z/run_results.versions/try-0002.json",
    )["Body"].read()
    assert stored(body) == {"try": 2}

    s3.put_object(
        Bucket="platform-ops-state",
        Key="runs/dbt_transform/dbt_run/2026-11-21T000000Z/run_results.json",
        Body=b"{truncated",
    )
    assert store.get_latest(*KEY) is None


def test_shared_documents(store: RunStateStore) -> None:
    assert store.list_shared("leases-batch") == {}
    store.put_shared("leases-batch", "run_a", {"slots": 100})
    store.put_shared("leases-batch", "run_b", {"slots": 200})
    assert store.get_shared("leases-batch", "run_a") == {"slots": 100}
    assert store.list_shared("leases-batch") == {"run_a": {"slots": 100}, "run_b": {"slots": 200}}
    store.delete_shared("leases-batch", "run_a")
    store.delete_shared("leases-batch", "run_a")  # idempotent
    assert store.list_shared("leases-batch") == {"run_b": {"slots": 200}}
    with pytest.raises(ConfigError, match="namespace"):
        store.put_shared("../x", "k", {})


def test_stale_temp_files_of_a_killed_writer_are_removed_by_the_next_write(
    store: RunStateStore, tmp_path: Path
) -> None:
    store.put({"v": 1}, *KEY, try_number=1)
    folder = tmp_path / "state/dbt_transform/dbt_run/2026-11-21T000000Z"
    stale = folder / ".run_results.json.0123abcd.tmp"
    fresh = folder / ".run_results.json.4567cdef.tmp"  # a writer that may still be at work
    stale.write_bytes(b"{half")
    fresh.write_bytes(b"{half")
    old = time.time() - STALE_TEMP_SECONDS - 60
    os.utime(stale, (old, old))
    store.put({"v": 2}, *KEY, try_number=2)
    assert not stale.exists()
    assert fresh.exists()
    assert store.get_latest(*KEY) == {"v": 2}


def test_a_recreated_run_of_the_date_keeps_the_old_runs_versions(tmp_path: Path) -> None:
    root = f"file://{tmp_path}/state"
    run_id = "manual__2026-11-21T00:00:00+00:00"  # deleted, then triggered again: the same run id
    first = RunStateStore(root)
    first.put({"run": 1, "try": 1}, *KEY, try_number=1, run_id=run_id)
    first.put({"run": 1, "try": 2}, *KEY, try_number=2, run_id=run_id)
    second = RunStateStore(root)  # the new run's try 1 runs in another process
    second.put({"run": 2, "try": 1}, *KEY, try_number=1, run_id=run_id)
    second.put({"run": 2, "try": 1, "again": True}, *KEY, try_number=1, run_id=run_id)  # its own: rewritten

    folder = tmp_path / "state/dbt_transform/dbt_run/2026-11-21T000000Z/run_results.versions"
    assert stored((folder / "try-0001.json").read_text()) == {"run": 1, "try": 1}
    assert stored((folder / "try-0001.1.json").read_text()) == {"run": 2, "try": 1, "again": True}
    assert second.list_versions(*KEY) == [1, 2]
    assert second.list_version_files(*KEY) == ["try-0001.json", "try-0001.1.json", "try-0002.json"]
    assert second.get_version(*KEY, try_number=1) == {"run": 2, "try": 1, "again": True}
    assert second.get_latest(*KEY) == {"run": 2, "try": 1, "again": True}


def _add_lease(root: str, who: str, barrier: Any, rounds: int) -> None:
    store = RunStateStore(root)
    barrier.wait()
    for i in range(rounds):

        def add(doc: Any, i: int = i) -> dict:
            doc = dict(doc or {})
            time.sleep(0.002)  # widen the window between read and write
            doc[f"{who}{i}"] = i
            return doc

        store.update_shared("leases-batch", "book", add)


def test_update_shared_loses_no_update_between_two_processes(tmp_path: Path) -> None:
    root = f"file://{tmp_path}/state"
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(2)
    procs = [ctx.Process(target=_add_lease, args=(root, who, barrier, 40)) for who in ("a", "b")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    book = RunStateStore(root).get_shared("leases-batch", "book")
    assert len(book) == 80, "an update was lost"


def test_update_shared_aborts_without_writing_when_the_change_refuses(store: RunStateStore) -> None:
    store.put_shared("leases-batch", "book", {"n": 1})

    def refuse(doc: Any) -> Any:
        raise ConfigError("max_slots_ceiling", "would be exceeded", "buy fewer")

    with pytest.raises(ConfigError, match="max_slots_ceiling"):
        store.update_shared("leases-batch", "book", refuse)
    assert store.get_shared("leases-batch", "book") == {"n": 1}


@pytest.mark.integration
def test_update_shared_on_s3_retries_after_losing_a_race(aws_conn: str, moto_endpoint: str) -> None:
    s3 = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    s3.create_bucket(Bucket="platform-ops-cas")
    store = RunStateStore("s3://platform-ops-cas/runs", conn_id=aws_conn)
    other = RunStateStore("s3://platform-ops-cas/runs", conn_id=aws_conn)
    seen: list[Any] = []

    def add_a(doc: Any) -> dict:
        seen.append(doc)
        if len(seen) == 1:  # another run commits between this read and this write
            other.update_shared("ns", "book", lambda d: {**(d or {}), "b": 1})
        return {**(doc or {}), "a": 1}

    assert store.update_shared("ns", "book", add_a) == {"a": 1, "b": 1}
    assert seen == [None, {"b": 1}], "the first write must have been refused and the change re-run"

    seen.clear()

    def add_c(doc: Any) -> dict:
        seen.append(doc)
        if len(seen) == 1:
            other.update_shared("ns", "book", lambda d: {**d, "d": 1})
        return {**doc, "c": 1}

    assert store.update_shared("ns", "book", add_c) == {"a": 1, "b": 1, "c": 1, "d": 1}
    assert store.get_shared("ns", "book") == {"a": 1, "b": 1, "c": 1, "d": 1}


@pytest.mark.integration
def test_s3_versions_of_a_recreated_run_are_kept(aws_conn: str, moto_endpoint: str) -> None:
    s3 = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    s3.create_bucket(Bucket="platform-ops-versions")
    root = "s3://platform-ops-versions/runs"
    RunStateStore(root, conn_id=aws_conn).put({"run": 1}, *KEY, try_number=1)
    store = RunStateStore(root, conn_id=aws_conn)
    store.put({"run": 2}, *KEY, try_number=1)
    assert store.list_version_files(*KEY) == ["try-0001.json", "try-0001.1.json"]
    assert store.get_version(*KEY, try_number=1) == {"run": 2}


def test_s3_a_long_lived_reader_sees_what_others_wrote_since(aws_conn: str, moto_endpoint: str) -> None:
    """The API server's run report keeps one s3fs filesystem for its lifetime: its listings must
    show dates and tries that workers stored after its first look (s3fs caches every listing)."""
    s3 = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    s3.create_bucket(Bucket="platform-ops-reader")
    reader = RunStateStore("s3://platform-ops-reader/runs", conn_id=aws_conn)
    reader.put({"try": 1}, *KEY, try_number=1)
    assert reader.dates("dbt_transform", "dbt_run", "run_results") == ["2026-11-21T000000Z"]
    assert [t for t, _, _ in reader.get_versions(*KEY)] == [1]

    # a worker elsewhere stores try 2 of this date and a new date: objects the reader never wrote
    folder = "runs/dbt_transform/dbt_run"
    for key, body in (
        (f"{folder}/2026-11-21T000000Z/run_results.versions/try-0002.json", {"try": 2}),
        (f"{folder}/2026-11-21T000000Z/run_results.json", {"try": 2}),
        (f"{folder}/2026-11-22T000000Z/run_results.versions/try-0001.json", {"try": 1}),
        (f"{folder}/2026-11-22T000000Z/run_results.json", {"try": 1}),
    ):
        s3.put_object(Bucket="platform-ops-reader", Key=key, Body=json.dumps(body).encode())

    assert sorted(reader.dates("dbt_transform", "dbt_run", "run_results")) == [
        "2026-11-21T000000Z",
        "2026-11-22T000000Z",
    ]
    assert reader.get_versions(*KEY) == [(1, 0, {"try": 1}), (2, 0, {"try": 2})]
    assert reader.list_versions(*KEY) == [1, 2]


def test_gcs_root_refuses_compare_and_set_naming_the_setting() -> None:
    store = RunStateStore("gs://bucket/state", conn_id="google_cloud_default")
    with pytest.raises(ConfigError, match="state_root"):
        store.update_shared("leases-batch", "book", lambda doc: {})


# -- one version per try, whatever the deferrals ----------------------------------------------------
RESUMED_TI = "ti-0199a8f2-7c1e-7d4a-9b6e-3f2a1c0d9e8b"
RECREATED_TI = "ti-0199a8f3-1b2c-7e3d-8f4a-5b6c7d8e9f0a"


def test_a_resumed_try_rewrites_its_own_version_from_another_store_object(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A deferred task resumes with a new store object (a new process); its task instance is the same."""
    caplog.set_level(logging.INFO, logger="platform_ops.state")
    root = f"file://{tmp_path}/state"
    RunStateStore(root).put({"step": "before the deferral"}, *KEY, try_number=1, writer=RESUMED_TI)
    resumed = RunStateStore(root)
    resumed.put({"step": "after the deferral"}, *KEY, try_number=1, writer=RESUMED_TI)

    assert resumed.list_version_files(*KEY) == ["try-0001.json"]
    assert resumed.get_version(*KEY, try_number=1) == {"step": "after the deferral"}
    assert "earlier run" not in caplog.text

    # A re-created run of the date (same run id, new task instance): that version is kept.
    RunStateStore(root).put({"step": "re-created run"}, *KEY, try_number=1, writer=RECREATED_TI)
    assert resumed.list_version_files(*KEY) == ["try-0001.json", "try-0001.1.json"]
    assert "already holds a version of try 1 from an earlier run of this date" in caplog.text
    folder = tmp_path / "state/dbt_transform/dbt_run/2026-11-21T000000Z/run_results.versions"
    assert stored((folder / "try-0001.json").read_text()) == {"step": "after the deferral"}
    assert stored((folder / "try-0001.1.json").read_text()) == {"step": "re-created run"}


@pytest.mark.integration
def test_a_task_resumed_after_a_deferral_keeps_one_version_of_its_try(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Through Airflow: the task writes, defers, resumes and writes again, each time with a new store."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    from tests.airflow_runner import run_dag

    caplog.set_level(logging.WARNING, logger="platform_ops.state")
    monkeypatch.setenv(STATE_ROOT_ENV, f"file://{tmp_path}/state")
    result = run_dag(REPO / "tests/state_dags", "state_deferral", DATE)
    assert result.state == "success"

    store = RunStateStore()
    assert store.list_version_files("state_deferral", "store", DATE, "progress") == ["try-0001.json"]
    assert store.get_latest("state_deferral", "store", DATE, "progress") == {"step": "after the deferral"}
    assert "earlier run" not in caplog.text
    with create_session() as session:
        ti = session.query(TaskInstance).filter_by(dag_id="state_deferral", run_id=result.run_id).one()
        ti_id = str(ti.id)
    (version,) = (tmp_path / "state/state_deferral/store").rglob("try-0001.json")
    assert json.loads(version.read_text())[WRITER_FIELD] == {
        "writer": f"ti-{ti_id}",
        "run_id": result.run_id,
        "try_number": 1,
    }


def test_the_writer_field_is_the_store_s_own(store: RunStateStore, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=f"doc.*{WRITER_FIELD}"):
        store.put({WRITER_FIELD: "someone"}, *KEY, try_number=1)
    assert not (tmp_path / "state").exists()


@pytest.mark.integration
def test_s3_a_resumed_try_rewrites_its_own_version(aws_conn: str, moto_endpoint: str) -> None:
    s3 = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    s3.create_bucket(Bucket="platform-ops-resumed")
    root = "s3://platform-ops-resumed/runs"
    RunStateStore(root, conn_id=aws_conn).put({"step": 1}, *KEY, try_number=1, writer=RESUMED_TI)
    resumed = RunStateStore(root, conn_id=aws_conn)
    resumed.put({"step": 2}, *KEY, try_number=1, writer=RESUMED_TI)
    assert resumed.list_version_files(*KEY) == ["try-0001.json"]
    assert resumed.get_version(*KEY, try_number=1) == {"step": 2}
    RunStateStore(root, conn_id=aws_conn).put({"step": 3}, *KEY, try_number=1, writer=RECREATED_TI)
    assert resumed.list_version_files(*KEY) == ["try-0001.json", "try-0001.1.json"]


# -- state written by older versions of the package ----------------------------------------------------
# The first layout (kept since, but for one folder name): bare documents, json.dumps(doc, indent=1,
# sort_keys=True), with no writer recorded; a run without a logical date in run_id=<run id> with every
# character but letters, digits and . _ - + folded to "_" (since then escaped reversibly, =3a for ":").
MANUAL_RUN = "manual__2026-11-21T10:00:00+00:00"
OLDEST_LAYOUT = {
    "dbt_transform/dbt_run/2026-11-21T000000Z/run_results.json": {"format": 1, "try": 2},
    "dbt_transform/dbt_run/2026-11-21T000000Z/run_results.versions/try-0001.json": {"format": 1, "try": 1},
    "dbt_transform/dbt_run/2026-11-21T000000Z/run_results.versions/try-0002.json": {"format": 1, "try": 2},
    "slots/buy/run_id=manual__2026-11-21T10_00_00+00_00/purchase.json": {"run_id": MANUAL_RUN, "slots": 100},
    "slots/buy/run_id=manual__2026-11-21T10_00_00+00_00/purchase.versions/try-0001.json": {
        "run_id": MANUAL_RUN,
        "slots": 100,
    },
}


def write_oldest_layout(root: Path) -> None:
    for name, doc in OLDEST_LAYOUT.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(json.dumps(doc, indent=1, sort_keys=True, default=str).encode())


def test_state_of_the_oldest_layout_is_read(tmp_path: Path) -> None:
    write_oldest_layout(tmp_path / "state")
    store = RunStateStore(f"file://{tmp_path}/state")

    assert store.get_latest(*KEY) == {"format": 1, "try": 2}
    assert store.get_version(*KEY, try_number=1) == {"format": 1, "try": 1}
    assert store.list_versions(*KEY) == [1, 2]
    store.put({"format": 1, "try": 3}, *KEY, try_number=3)
    assert store.list_version_files(*KEY) == ["try-0001.json", "try-0002.json", "try-0003.json"]
    store.put({"format": 1, "try": 2, "other run": True}, *KEY, try_number=2)  # not its version: kept
    assert store.list_version_files(*KEY) == [
        "try-0001.json",
        "try-0002.json",
        "try-0002.1.json",
        "try-0003.json",
    ]
    old = tmp_path / "state/dbt_transform/dbt_run/2026-11-21T000000Z/run_results.versions/try-0002.json"
    assert json.loads(old.read_text()) == {"format": 1, "try": 2}

    run = ("slots", "buy", None, "purchase")
    assert store.get_latest(*run, run_id=MANUAL_RUN) == {"run_id": MANUAL_RUN, "slots": 100}
    assert store.get_version(*run, try_number=1, run_id=MANUAL_RUN) == {"run_id": MANUAL_RUN, "slots": 100}
    assert store.list_versions(*run, run_id=MANUAL_RUN) == [1]
    # Another run id that folds to that folder: the document names its run, which is not this one.
    assert store.get_latest(*run, run_id="manual__2026-11-21T10;00;00+00;00") is None
    # The run's next try is stored in the current layout, and read from there on.
    url = store.put({"run_id": MANUAL_RUN, "slots": 200}, *run, try_number=2, run_id=MANUAL_RUN)
    assert "/run_id=manual__2026-11-21T10=3a00=3a00+00=3a00/" in url
    assert store.get_latest(*run, run_id=MANUAL_RUN) == {"run_id": MANUAL_RUN, "slots": 200}
