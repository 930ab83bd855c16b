"""Run by tests/test_session_isolation.py in a pytest session of its own (not collected by the suite:
the name does not start with test_): it records where its session lives and uses its metadata DB."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.airflow_runner import ensure_db


def test_record_the_session(tmp_path: Path) -> None:
    ensure_db()  # `airflow db migrate` on this session's SQLite DB
    from airflow.models.variable import Variable

    Variable.set("isolation_probe", os.environ["ISOLATION_PROBE_NAME"])
    seen = Variable.get("isolation_probe")
    Path(os.environ["ISOLATION_PROBE_OUT"]).write_text(
        json.dumps({"home": os.environ["AIRFLOW_HOME"], "tmp": str(tmp_path), "variable": seen})
    )
