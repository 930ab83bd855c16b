"""Port coverage: whether security group and NACL rules cover a port range for a protocol."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from platform_ops.core.workspace_preflight.reference import ALL_PORTS
from platform_ops.core.workspace_preflight.snapshot import Permission


def _merge(intervals: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for low, high in sorted(intervals):
        if merged and low <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], high))
        else:
            merged.append((low, high))
    return merged


def uncovered(required: tuple[int, int], intervals: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """The parts of the port range ``required`` that no interval covers."""
    gaps: list[tuple[int, int]] = []
    cursor = required[0]
    for low, high in _merge(intervals):
        if high < cursor or low > required[1]:
            continue
        if low > cursor:
            gaps.append((cursor, low - 1))
        cursor = max(cursor, high + 1)
        if cursor > required[1]:
            return gaps
    if cursor <= required[1]:
        gaps.append((cursor, required[1]))
    return gaps


def protocol_matches(rule_protocol: str, protocol: str) -> bool:
    """Whether a rule's protocol (``-1``, ``6``, ``tcp``...) covers ``protocol``."""
    aliases = {"6": "tcp", "17": "udp", "-1": "-1", "all": "-1"}
    normal = aliases.get(rule_protocol.lower(), rule_protocol.lower())
    return normal in ("-1", protocol)


def ports_of(permissions: Iterable[Permission], protocol: str, peer: Any) -> list[tuple[int, int]]:
    """The port ranges of ``permissions`` on ``protocol`` whose peer passes ``peer``."""
    out = []
    for p in permissions:
        if not protocol_matches(p.protocol, protocol) or not peer(p):
            continue
        out.append(ALL_PORTS if p.protocol in ("-1", "all") else (p.from_port, p.to_port))
    return out


def fmt_ranges(ranges: Iterable[tuple[int, int]]) -> str:
    """Port ranges as text (``443, 8443-8451``)."""
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in ranges)
