"""What the project's DAG files share: ``default_args``, the warehouse pools, common trigger params.

This is DAG-side configuration, so it lives outside ``platform_ops.core`` (which reads no
environment): the retry delay comes from the environment of the process that parses the DAG.

The trigger form (Airflow 3's "Trigger Dag" with params) labels each field with the Param's
``title`` and explains it with its ``description``; which input it draws follows the schema:
a string (or number) with ``enum`` is a select, showing ``values_display``'s label of each value;
an array with ``examples`` is a multi-select offering them. Items restricted by ``enum`` alone
render as a free-text list, one value a line, so :func:`multi_select_param` sets both.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from airflow.sdk import Param

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


def select_param(default: str, choices: Mapping[str, str], *, title: str, description: str) -> Param:
    """One value out of ``choices`` (value -> label), drawn as a select showing the labels.

    A value outside ``choices`` is refused when the run is created, the error naming the param.
    """
    return Param(
        default,
        description,
        type="string",
        title=title,
        enum=list(choices),
        values_display=dict(choices),
    )


def multi_select_param(
    default: Sequence[str],
    choices: Mapping[str, str] | Sequence[str],
    *,
    title: str,
    description: str,
    none_means_default: bool = False,
    **schema: Any,
) -> Param:
    """Some of ``choices`` (values, or value -> label), drawn as a multi-select.

    The form offers the schema's ``examples``; validation holds each item to ``items.enum`` (the
    same values), so a value outside them is refused when the run is created. Clearing every
    choice in the form sends null, which ``none_means_default`` accepts (the DAG reads null as
    the default); otherwise null is refused. ``schema`` adds constraints such as ``minItems``.
    """
    values = list(choices)
    spec: dict[str, Any] = {
        "type": ["array", "null"] if none_means_default else "array",
        "title": title,
        "items": {"type": "string", "enum": values},
        "examples": values,
    }
    if isinstance(choices, Mapping):
        spec["values_display"] = dict(choices)
    return Param(list(default), description, **spec, **schema)


def dry_run_param(default: bool, description: str) -> Param:
    """The ``dry_run`` switch; each DAG says what a dry run does (and its own default)."""
    return Param(default, description, type="boolean", title="Dry run")


def workspace_pair_params() -> dict[str, Param]:
    """The params naming the two workspaces, shared by the DR migration and the cutover DAGs."""
    return {
        "source_conn_id": Param(
            "databricks_primary",
            "Airflow connection (Databricks) of the workspace the objects come from; default "
            "databricks_primary",
            type="string",
            minLength=1,
            title="Source workspace connection",
        ),
        "target_conn_id": Param(
            "databricks_secondary",
            "Airflow connection (Databricks) of the secondary workspace, which must differ from the "
            "source; default databricks_secondary",
            type="string",
            minLength=1,
            title="Secondary workspace connection",
        ),
    }
