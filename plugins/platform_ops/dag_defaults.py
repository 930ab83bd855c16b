"""default_args shared by the project's DAGs."""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

RETRY_DELAY_ENV = "PLATFORM_OPS_RETRY_DELAY_SECONDS"


def default_args(retries: int = 2, **extra: Any) -> dict[str, Any]:
    """Owner, retries and a retry delay of five minutes (env PLATFORM_OPS_RETRY_DELAY_SECONDS
    overrides it: the demo and the tests shorten it)."""
    return {
        "owner": "platform-ops",
        "retries": retries,
        "retry_delay": timedelta(seconds=int(os.environ.get(RETRY_DELAY_ENV, "300"))),
        **extra,
    }


# Airflow pools that serialise writers of one warehouse. Their slots are declared in
# include/config/pools.json, which every way of starting Airflow here imports (`airflow pools
# import`): a task whose pool does not exist is never scheduled.
DBT_POOL = "platform_ops_dbt"
CDC_POOL = "platform_ops_cdc"
