"""Findings and the report: errors stop the deployment, warnings are reported."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from platform_ops.core.workspace_preflight.rules import RULES, Severity


@dataclass(frozen=True)
class Finding:
    """One broken rule on one resource."""

    rule_id: str
    severity: Severity
    resource_id: str
    message: str
    seed_section: str
    fix: str
    later_failure: str | None

    def line(self) -> str:
        """One log line: severity, rule, resource, message, fix and later failure."""
        text = f"[{self.severity}] {self.rule_id} {self.resource_id}: {self.message}. Fix: {self.fix}"
        if self.later_failure:
            text += f". Otherwise later: {self.later_failure}"
        return text


def finding(rule_id: str, resource_id: str, message: str) -> Finding:
    """A finding of rule ``rule_id`` on ``resource_id``, carrying the rule's severity, source and fix."""
    rule = RULES[rule_id]
    return Finding(
        rule_id, rule.severity, resource_id, message, rule.seed_section, rule.fix, rule.later_failure
    )


@dataclass(frozen=True)
class PreflightReport:
    """The outcome of a preflight: errors stop the deployment, warnings are reported."""

    findings: tuple[Finding, ...]
    rules_checked: tuple[str, ...]

    @property
    def errors(self) -> list[Finding]:
        """Findings of severity error."""
        return [f for f in self.findings if f.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[Finding]:
        """Findings of severity warning."""
        return [f for f in self.findings if f.severity is Severity.WARNING]

    @property
    def ok(self) -> bool:
        """True when no error was found."""
        return not self.errors

    def failed_rules(self) -> set[str]:
        """The ids of the rules with at least one finding."""
        return {f.rule_id for f in self.findings}

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (what goes to XCom)."""
        return {
            "ok": self.ok,
            "rules_checked": list(self.rules_checked),
            "errors": [asdict(f) for f in self.errors],
            "warnings": [asdict(f) for f in self.warnings],
        }

    def to_json(self) -> str:
        """The report as JSON."""
        return json.dumps(self.to_dict(), ensure_ascii=False, sort_keys=True)

    def lines(self) -> list[str]:
        """Log lines: a summary, then each error and warning."""
        head = f"preflight: {len(self.errors)} error(s), {len(self.warnings)} warning(s)"
        return [head, *(f.line() for f in self.errors), *(f.line() for f in self.warnings)]
