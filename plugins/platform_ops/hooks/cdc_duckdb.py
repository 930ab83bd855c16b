"""CdcDuckDBHook: the local DuckDB file the CDC operator reads its change log from and writes to.

The DuckDB engine's counterpart of :class:`~platform_ops.hooks.cdc.CdcBigQueryHook`: the file's
location (the ``path`` argument, else env ``PLATFORM_OPS_CDC_DUCKDB_PATH``, else
``$AIRFLOW_HOME/cdc.duckdb``), one connection per hook, and one method per thing the operator does
with it, so the operator never touches ``duckdb`` itself.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any, TypeVar

import duckdb
from airflow.sdk import BaseHook

from platform_ops.state import airflow_home

PATH_ENV = "PLATFORM_OPS_CDC_DUCKDB_PATH"
T = TypeVar("T")


def default_path() -> str:
    """Where the DuckDB file is when no path is given.

    Env ``PLATFORM_OPS_CDC_DUCKDB_PATH``, else ``$AIRFLOW_HOME/cdc.duckdb``.
    """
    return os.environ.get(PATH_ENV) or os.path.join(airflow_home(), "cdc.duckdb")


class CdcDuckDBHook(BaseHook):
    """One DuckDB file, opened on first use and closed by :meth:`close` (or a ``with`` block).

    Args:
        path: The DuckDB file; None for :func:`default_path`.
    """

    hook_name = "CDC DuckDB file"

    def __init__(self, path: str | None = None) -> None:
        """See the class; the file is not opened yet."""
        super().__init__()
        self.path = path or default_path()
        self._con: duckdb.DuckDBPyConnection | None = None

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        """The open connection to the file."""
        if self._con is None:
            self._con = duckdb.connect(self.path)
        return self._con

    def close(self) -> None:
        """Close the connection, if one is open."""
        if self._con is not None:
            self._con.close()
            self._con = None

    def __enter__(self) -> CdcDuckDBHook:
        """The hook itself."""
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Close the connection."""
        self.close()

    def schema(self, table: str) -> dict[str, str] | None:
        """The table's columns and their types (``schema.table``; ``main`` by default).

        None when the table does not exist.
        """
        schema, _, name = table.rpartition(".")
        found = self.con.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_name = ? AND table_schema = ? ORDER BY ordinal_position",
            [name, schema or "main"],
        ).fetchall()
        return {str(column): str(kind) for column, kind in found} or None

    def plan(self, sql: str, params: Mapping[str, Any]) -> list[str]:
        """The physical plan of ``sql``, line by line; nothing runs."""
        return [str(r[-1]) for r in self.con.execute(f"EXPLAIN {sql}", dict(params)).fetchall()]

    def one_row(self, sql: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """The first row of ``sql``'s result, by column name."""
        cur = self.con.execute(sql, dict(params))
        row = cur.fetchone()
        if row is None:
            return {}
        return dict(zip([d[0] for d in cur.description], row, strict=True))

    def replace_window(
        self,
        destination: str,
        sql: str,
        params: Mapping[str, Any],
        check: Callable[[dict[str, int]], T],
    ) -> tuple[dict[str, int], T]:
        """Replace the window's rows of ``destination`` by ``sql``'s result in one transaction.

        ``destination`` is quoted already. ``check`` gets the window's new row count per
        ``op:before_source`` before the commit; if it raises, nothing is written.

        Returns:
            The counts and what ``check`` returned.
        """
        window = {"window_start": params["window_start"], "window_end": params["window_end"]}
        in_window = "WHERE window_start = $window_start AND window_end = $window_end"
        con = self.con
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(
                f"CREATE TABLE IF NOT EXISTS {destination} AS SELECT * FROM ({sql}) AS q LIMIT 0",
                dict(params),
            )
            con.execute(f"DELETE FROM {destination} {in_window}", window)
            con.execute(f"INSERT INTO {destination} SELECT * FROM ({sql}) AS q", dict(params))
            found = con.execute(
                f"SELECT op || ':' || before_source, count(*) FROM {destination} {in_window} GROUP BY ALL",
                window,
            ).fetchall()
            counts = {str(k): int(n) for k, n in found}
            checked = check(counts)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        return counts, checked
