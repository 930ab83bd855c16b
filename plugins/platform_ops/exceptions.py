"""The package's small error hierarchy.

Pure Python on purpose: ``platform_ops.core`` raises these too, and core imports nothing from Airflow.
"""

from __future__ import annotations


class PlatformOpsError(Exception):
    """Base class of every error raised by platform_ops."""


class ConfigError(PlatformOpsError, ValueError):
    """Bad input, detected before any side effect.

    The message always names the offending field and says how to fix it.
    """

    def __init__(self, field: str, problem: str, fix: str) -> None:
        self.field = field
        self.problem = problem
        self.fix = fix
        super().__init__(f"{field}: {problem}. Fix: {fix}")


class StateError(PlatformOpsError):
    """Persisted run state could not be written (reads never raise: they warn and return None)."""
