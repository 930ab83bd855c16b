"""The switches around a dbt build of DbtRunOrRetryOperator: warnings, test failures, freshness gate.

Airflow's side of :mod:`platform_ops.core.run_outcome` and :mod:`platform_ops.core.source_freshness`:
the checked switches, what the freshness check found and the exception it stops the build with,
and the call of ``on_warning_callback``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from airflow.sdk.exceptions import AirflowException, AirflowFailException

from platform_ops.core.params import parse_bool
from platform_ops.core.run_outcome import check_callback, warning_context
from platform_ops.core.source_freshness import (
    FreshnessPolicy,
    counts,
    parse_policy,
    reported,
    stale_error,
    unchecked_error,
)


@dataclass(frozen=True)
class Switches:
    """The switches of a build: warnings callback, test retries, freshness gate, docs."""

    on_warning_callback: Callable[[dict[str, Any]], Any] | None
    retry_test_failures: bool
    source_freshness: FreshnessPolicy
    generate_docs: bool = False

    @classmethod
    def from_params(
        cls,
        *,
        on_warning_callback: Any,
        retry_test_failures: Any,
        source_freshness: Any,
        generate_docs: Any = False,
    ) -> Switches:
        """Validate the raw (possibly template-rendered) values; every error names its field."""
        check_callback(on_warning_callback)
        return cls(
            on_warning_callback=on_warning_callback,
            retry_test_failures=parse_bool("retry_test_failures", retry_test_failures),
            source_freshness=parse_policy(source_freshness),
            generate_docs=parse_bool("generate_docs", generate_docs),
        )


@dataclass(frozen=True)
class FreshnessCheck:
    """What the freshness check of one try found, and where it is stored (None: nothing to check)."""

    policy: FreshnessPolicy
    results: list[dict[str, Any]]
    location: str | None

    def warnings(self) -> list[dict[str, Any]]:
        """The sources that become warnings of the try (see ``source_freshness.reported``)."""
        return reported(self.policy, self.results)

    def summary(self) -> dict[str, Any]:
        """The ``source_freshness`` entry of the XCom summary: counts and the sources not fresh."""
        return {
            "policy": self.policy.value,
            "counts": counts(self.results),
            "not_fresh": [r for r in self.results if r["status"] != "pass"],
            "state_location": self.location,
        }

    def gate(self) -> AirflowException | None:
        """The error stopping the build under ``source_freshness=error``, or None to build.

        A stale source fails without retries (loading it is the fix); one that could not be
        checked is retried.
        """
        if self.policy is not FreshnessPolicy.ERROR:
            return None
        stale, unchecked = stale_error(self.results), unchecked_error(self.results)
        if stale:
            return AirflowFailException("\n".join(m for m in (stale, unchecked) if m))
        return AirflowException(unchecked) if unchecked else None


def notify_warnings(
    log: logging.Logger | Any,
    callback: Callable[[dict[str, Any]], Any] | None,
    context: Mapping[str, Any],
    warnings: Sequence[Mapping[str, Any]],
) -> None:
    """Log each warning, then call ``callback`` once with them; a callback that raises is only logged."""
    for w in warnings:
        log.warning("dbt warning %s [%s]: %s", w["unique_id"], w["status"], w["message"])
    if not warnings or callback is None:
        return
    log.info("Calling on_warning_callback with %d warning(s)", len(warnings))
    try:
        callback(warning_context(context, warnings))
    except Exception:
        log.exception("on_warning_callback raised; the task's outcome does not change")
