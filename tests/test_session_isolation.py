"""Two test sessions started at once in one checkout get their own AIRFLOW_HOME, metadata DB and temp
folders: neither sees the other's writes, and neither shares this session's home."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_two_sessions_at_once_never_share_a_home(tmp_path: Path) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PLATFORM_OPS_TEST_HOME", "AIRFLOW_HOME") and not k.startswith("PYTEST_XDIST")
    }
    runs = []
    for name in ("first", "second"):
        out = tmp_path / f"{name}.json"
        runs.append(
            (
                out,
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "pytest",
                        "-q",
                        "-p",
                        "no:cacheprovider",
                        "tests/isolation_probe.py",
                    ],
                    cwd=REPO,
                    env={**env, "ISOLATION_PROBE_NAME": name, "ISOLATION_PROBE_OUT": str(out)},
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    text=True,
                ),
            )
        )
    seen = []
    for out, proc in runs:
        output, _ = proc.communicate(timeout=300)
        assert proc.returncode == 0, output
        seen.append(json.loads(out.read_text()))
    first, second = seen
    assert first["home"] != second["home"]
    assert os.environ["AIRFLOW_HOME"] not in (first["home"], second["home"])
    assert not Path(first["tmp"]).is_relative_to(second["home"])
    assert Path(first["tmp"]).is_relative_to(first["home"])
    assert (first["variable"], second["variable"]) == ("first", "second")  # each read its own DB
    assert not Path(first["home"]).exists()  # removed when its session ended
