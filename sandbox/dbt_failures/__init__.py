"""The shipped dbt project with switches to break it on purpose: for the tests and the demo.

``include/dbt`` has no way to fail a model. :func:`failure_project` copies it and adds these
switches, all dbt vars (pass them in the run's ``vars``):

* ``fail_models``: names of models that fail at run time (a pre-hook, ``fail_if_requested.sql``);
* ``payments_in_cents``: ``stg_payments`` passes the raw cents through as dollars, the upstream
  unit bug the data test ``assert_payment_amounts_in_dollars`` catches;
* ``payments_check_severity``: that test's severity (``error`` unless set; ``warn`` makes the bug
  a warning, the build stays green);
* ``orders_loaded_hours_ago``: the source ``raw.orders`` reads as last loaded that many hours ago
  (its ``loaded_at_field`` becomes ``current_timestamp`` minus the hours), for
  ``dbt source freshness``: under 24 passes, 24-72 warns, over 72 is stale. Unset, the newest
  order date counts, as in the shipped project.

Point the ``dbt_transform`` DAG at the copy with env ``PLATFORM_OPS_DBT_PROJECT_DIR``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "include" / "dbt"
HERE = Path(__file__).parent
#: the vars (and the macro) the overlay adds; none of them exists in the shipped project
SWITCHES = (
    "fail_models",
    "payments_in_cents",
    "fail_if_requested",
    "payments_check_severity",
    "orders_loaded_hours_ago",
)

_PRE_HOOK = ("models:\n  shop:\n", 'models:\n  shop:\n    +pre-hook: "{{ fail_if_requested() }}"\n')
_CENTS = (
    "amount / 100.0 as amount",
    "{% if var('payments_in_cents', false) %}amount{% else %}amount / 100.0{% endif %} as amount",
)

_SEVERITY = (
    "-- Raw payments",
    "{{ config(severity=var('payments_check_severity', 'error')) }}\n-- Raw payments",
)
_LOADED_AT = (
    'loaded_at_field: "cast(order_date as timestamp)"',
    "loaded_at_field: \"{% if var('orders_loaded_hours_ago', none) is none %}cast(order_date as timestamp)"
    "{% else %}current_timestamp - to_hours({{ var('orders_loaded_hours_ago') | int }}){% endif %}\"",
)


def _patch(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    if old not in text:
        raise RuntimeError(f"{path}: {old!r} not found; update sandbox/dbt_failures to the project")
    path.write_text(text.replace(old, new, 1))


def failure_project(dest: Path, source: Path = SHIPPED) -> Path:
    """Copy the dbt project ``source`` to ``dest`` (which must not exist) with the switches added."""
    shutil.copytree(source, dest, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    (dest / "macros").mkdir(exist_ok=True)
    shutil.copy(HERE / "fail_if_requested.sql", dest / "macros" / "fail_if_requested.sql")
    _patch(dest / "dbt_project.yml", *_PRE_HOOK)
    _patch(dest / "models" / "staging" / "stg_payments.sql", *_CENTS)
    _patch(dest / "tests" / "assert_payment_amounts_in_dollars.sql", *_SEVERITY)
    _patch(dest / "models" / "staging" / "sources.yml", *_LOADED_AT)
    return dest
