"""The environment of a subprocess such as dbt: an allow-list, never the worker's whole environment.

A worker's environment holds Airflow's own secrets (``AIRFLOW_CONN_*`` connections, the metadata
DB URL, the Fernet key, the JWT secret in ``AIRFLOW__*``) and often cloud credentials. A dbt model
can read any variable it is given through ``env_var()`` and put it into compiled SQL, so dbt gets
only what it needs to run: the system basics, the user's ``DBT_*`` settings, the paths the bundled
profile reads, the operator's explicit ``env`` and the credentials of its connection.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from platform_ops.exceptions import ConfigError

#: system basics, locale, proxies and CA bundles (the upper- and lower-case forms both exist)
ALLOWED_NAMES = frozenset(
    {
        "PATH",
        "HOME",
        "USER",
        "LOGNAME",
        "SHELL",
        "TMPDIR",
        "TEMP",
        "TMP",
        "TZ",
        "LANG",
        "LANGUAGE",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "NO_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "no_proxy",
        "all_proxy",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "REQUESTS_CA_BUNDLE",
        "CURL_CA_BUNDLE",
        # paths read by include/dbt/profiles.yml (the DuckDB file of the `local` target)
        "AIRFLOW_HOME",
        "PLATFORM_OPS_DUCKDB_PATH",
    }
)
#: locale categories and dbt's own settings (DBT_ENV_SECRET_* included: set on purpose for dbt)
ALLOWED_PREFIXES = ("LC_", "DBT_")
#: never accepted in ``env=``: Airflow's connections, variables and configuration (its secrets)
REFUSED_PREFIXES = ("AIRFLOW_CONN_", "AIRFLOW_VAR_", "AIRFLOW__")
#: defaults that keep dbt quiet and offline unless the user decided otherwise
DEFAULTS = {"DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "DBT_VERSION_CHECK": "false"}

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def allowed(name: str) -> bool:
    """Whether the worker's variable ``name`` may reach the subprocess."""
    return name in ALLOWED_NAMES or name.startswith(ALLOWED_PREFIXES)


def validate_extra(extra: Mapping[str, Any] | None, field: str = "env") -> dict[str, str]:
    """The operator's explicit variables: names and string values, none of Airflow's secrets."""
    out: dict[str, str] = {}
    for name, value in (extra or {}).items():
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise ConfigError(field, f"{name!r} is not an environment variable name", "use A-Z, 0-9 and _")
        if name.startswith(REFUSED_PREFIXES):
            raise ConfigError(
                field,
                f"{name} would hand one of Airflow's connections, variables or settings to dbt",
                "pass only what the dbt project reads; credentials come from databricks_conn_id",
            )
        if not isinstance(value, str):
            raise ConfigError(
                field,
                f"the value of {name} is a {type(value).__name__}, not a string",
                f'quote it: "{value}"',
            )
        out[name] = value
    return out


def subprocess_environment(
    inherited: Mapping[str, str], extra: Mapping[str, Any] | None, credentials: Mapping[str, str]
) -> dict[str, str]:
    """The allow-listed part of ``inherited``, then ``extra``, then ``credentials`` (which win)."""
    env = {name: value for name, value in inherited.items() if allowed(name)}
    for name, value in DEFAULTS.items():
        env.setdefault(name, value)
    env.update(validate_extra(extra))
    env.update(credentials)
    return env
