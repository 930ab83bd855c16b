"""The subprocess environment is a pure function of what the hook hands it."""

from __future__ import annotations

import pytest

from platform_ops.core.subprocess_env import subprocess_environment


def test_the_environment_comes_only_from_the_mapping_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DBT_PROFILES_DIR", "/set/on/the/worker")
    monkeypatch.setenv("LANG", "C.UTF-8")
    env = subprocess_environment({"PATH": "/bin", "AIRFLOW__CORE__FERNET_KEY": "k"}, {"X": "1"}, {})
    assert env == {
        "PATH": "/bin",
        "X": "1",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DBT_VERSION_CHECK": "false",
    }
