"""Generate a realistic SQL Server change-tracking log in DuckDB for bigquery_cdc_before_after.

For the Tokyo day ending at --day (the window `airflow dags test bigquery_cdc_before_after <day>`
processes), it writes, per table of include/config/cdc_tables.yaml: the previous day's snapshot
(`<prefix><yymmdd>`), log rows in the lookback before the window, and the window's changes:
inserts, updates (several for some keys), deletes, re-delivered rows, out-of-order arrivals, keys
whose previous state is only in the snapshot, one update whose previous state is nowhere, and two
bad rows (a lowercase change type, a NULL version).
"""

from __future__ import annotations

import argparse
import random
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import duckdb
import pyarrow as pa

TOKYO = ZoneInfo("Asia/Tokyo")


def _insert(con: duckdb.DuckDBPyConnection, table: str, rows: list[tuple]) -> None:
    """Insert rows in one statement through an Arrow table (executemany binds row by row: seconds)."""
    columns = [name for name, *_ in con.execute(f"DESCRIBE {table}").fetchall()]
    values = zip(*rows, strict=True)
    batch = pa.table({name: list(column) for name, column in zip(columns, values, strict=True)})
    con.register("_rows", batch)
    try:
        con.execute(f"INSERT INTO {table} SELECT * FROM _rows")
    finally:
        con.unregister("_rows")


def generate(path: str, day: str, seed: int = 7) -> dict[str, int]:
    rng = random.Random(seed)
    window_end = datetime.fromisoformat(day).replace(tzinfo=TOKYO)
    window_start = window_end - timedelta(days=1)
    suffix = (window_start.date() - timedelta(days=1)).strftime("%y%m%d")
    con = duckdb.connect(path)
    version = iter(range(10_000, 10**9))
    counts = {}

    def t(hours: float) -> datetime:
        return window_start + timedelta(hours=hours)

    # orders: key order_id
    con.execute("DROP TABLE IF EXISTS orders_ct_log")
    con.execute(
        "CREATE TABLE orders_ct_log (order_id INTEGER, customer VARCHAR, status VARCHAR, "
        "amount DECIMAL(10, 2), "
        "changetrack_type VARCHAR, changetrack_ver BIGINT, bigquery_insert_time TIMESTAMPTZ)"
    )
    con.execute(f"DROP TABLE IF EXISTS orders_snapshot_{suffix}")
    con.execute(
        f"CREATE TABLE orders_snapshot_{suffix} "
        "(order_id INTEGER, customer VARCHAR, status VARCHAR, amount DECIMAL(10, 2))"
    )
    statuses = ["placed", "paid", "shipped", "delivered", "cancelled"]
    snapshot = [
        (k, f"c{rng.randint(1, 400)}", rng.choice(statuses[:3]), round(rng.uniform(5, 500), 2))
        for k in range(1, 1501)
    ]
    _insert(con, f"orders_snapshot_{suffix}", snapshot)
    log = []
    for k in rng.sample(range(1, 1501), 300):  # changed yesterday: before images come from the log
        log.append(
            (
                k,
                f"c{rng.randint(1, 400)}",
                "paid",
                round(rng.uniform(5, 500), 2),
                "U",
                next(version),
                t(-rng.uniform(1, 40)),
            )
        )
    log.sort(key=lambda r: r[6])
    for k in rng.sample(range(1, 1501), 700):  # today's updates, some several times
        for _ in range(rng.choice([1, 1, 1, 2, 3])):
            log.append(
                (
                    k,
                    f"c{rng.randint(1, 400)}",
                    rng.choice(statuses),
                    round(rng.uniform(5, 500), 2),
                    "U",
                    next(version),
                    t(rng.uniform(0, 23.9)),
                )
            )
    for k in range(1501, 1701):  # new orders
        log.append(
            (
                k,
                f"c{rng.randint(1, 400)}",
                "placed",
                round(rng.uniform(5, 500), 2),
                "I",
                next(version),
                t(rng.uniform(0, 23.9)),
            )
        )
    for k in rng.sample(range(1, 1501), 40):  # cancelled and removed
        log.append((k, None, None, None, "D", next(version), t(rng.uniform(0, 23.9))))
    for r in rng.sample(log, 20):  # re-delivered rows
        log.append((*r[:6], r[6] + timedelta(minutes=rng.randint(1, 30))))
    log.append((9001, "c1", "paid", 12.5, "U", next(version), t(3)))  # previous state nowhere: missing
    # Rows a loader mangled: left out of the result and counted as bad rows (max_bad_rows).
    log.append((1501, "c1", "shipped", 1.0, "u", next(version), t(20)))  # lowercase change type
    log.append((1502, "c2", "paid", 2.0, "U", None, t(21)))  # no version
    _insert(con, "orders_ct_log", log)
    counts["orders_ct_log"] = len(log)

    # order_lines: composite key (order_id, line_no)
    con.execute("DROP TABLE IF EXISTS order_lines_ct_log")
    con.execute(
        "CREATE TABLE order_lines_ct_log (order_id INTEGER, line_no INTEGER, sku VARCHAR, quantity INTEGER, "
        "unit_price DECIMAL(10, 2), changetrack_type VARCHAR, changetrack_ver BIGINT, "
        "bigquery_insert_time TIMESTAMPTZ)"
    )
    con.execute(f"DROP TABLE IF EXISTS order_lines_snapshot_{suffix}")
    con.execute(
        f"CREATE TABLE order_lines_snapshot_{suffix} "
        "(order_id INTEGER, line_no INTEGER, sku VARCHAR, quantity INTEGER, unit_price DECIMAL(10, 2))"
    )
    lines = [
        (o, n, f"sku-{rng.randint(1, 90)}", rng.randint(1, 5), round(rng.uniform(1, 80), 2))
        for o in range(1, 801)
        for n in range(1, rng.randint(2, 4))
    ]
    _insert(con, f"order_lines_snapshot_{suffix}", lines)
    llog = []
    for o, n, sku, q, p in rng.sample(lines, 400):
        llog.append((o, n, sku, q + rng.randint(1, 3), p, "U", next(version), t(rng.uniform(0, 23.9))))
    for o in range(801, 861):
        llog.append((o, 1, f"sku-{rng.randint(1, 90)}", 1, 9.99, "I", next(version), t(rng.uniform(0, 23.9))))
    # out of order: version order decides, not arrival
    for o, n, sku, _, p in rng.sample(lines, 30):
        v1, v2 = next(version), next(version)
        llog.append((o, n, sku, 99, p, "U", v2, t(5)))
        llog.append((o, n, sku, 50, p, "U", v1, t(6)))
    _insert(con, "order_lines_ct_log", llog)
    counts["order_lines_ct_log"] = len(llog)
    con.close()
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--path", required=True)
    parser.add_argument("--day", required=True, help="the Tokyo date the window ends at, e.g. 2026-11-22")
    args = parser.parse_args()
    counts = generate(args.path, args.day)
    print(f"cdc demo data: {counts} in {args.path}")


if __name__ == "__main__":
    main()
