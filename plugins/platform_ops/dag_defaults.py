"""What the project's DAG files share: ``default_args`` and the names of the warehouse pools.

This is DAG-side configuration, so it lives outside ``platform_ops.core`` (which reads no
environment): the retry delay comes from the environment of the process that parses the DAG.
"""

from __future__ import annotations

import os
import re
from datetime import timedelta
from typing import Any

from platform_ops.exceptions import ConfigError

RETRY_DELAY_ENV = "PLATFORM_OPS_RETRY_DELAY_SECONDS"
DEFAULT_RETRY_DELAY = timedelta(minutes=5)

# Airflow pools that serialise writers of one warehouse. Their slots are declared in
# include/config/pools.json, which every way of starting Airflow here imports (`airflow pools
# import`): a task whose pool does not exist is never scheduled.
DBT_POOL = "platform_ops_dbt"
CDC_POOL = "platform_ops_cdc"


def retry_delay() -> timedelta:
    """Five minutes, or the seconds in env ``PLATFORM_OPS_RETRY_DELAY_SECONDS``.

    The demo and the tests shorten the delay this way.

    Raises:
        ConfigError: the variable is set to something other than a whole number of seconds.
    """
    raw = os.environ.get(RETRY_DELAY_ENV)
    if raw is None or not raw.strip():
        return DEFAULT_RETRY_DELAY
    if not re.fullmatch(r"[0-9]+", raw.strip()):
        raise ConfigError(
            RETRY_DELAY_ENV, f"{raw!r} is not a delay", "set a whole number of seconds, e.g. 60"
        )
    return timedelta(seconds=int(raw))


def default_args(retries: int = 2, **extra: Any) -> dict[str, Any]:
    """Owner, ``retries`` and the :func:`retry_delay`, plus any ``extra`` default arguments."""
    return {
        "owner": "platform-ops",
        "retries": retries,
        "retry_delay": retry_delay(),
        **extra,
    }
