"""What the wait benchmarks (serving_wait.py, slot_wait.py) share: measuring a waiting process.

Each benchmark runs its waits in child processes of its own script (``--<kind> <json names>``); a
child prints one JSON line of figures, read back by :func:`result`. Not a benchmark itself.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from pathlib import Path

from _processes import popen  # benchmarks/


def log(msg: str) -> None:
    print(msg, flush=True)


def peak_rss_mb() -> float:
    """This process's own peak RSS (VmHWM), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def spawn(script: str, kind: str, names: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    """Start ``script --<kind> <names>`` as a waiting child process."""
    return popen(
        [sys.executable, script, f"--{kind}", json.dumps(names)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )


def result(proc: subprocess.Popen[str]) -> dict:
    """The figures a waiting child printed on its last line; a failed child stops the benchmark."""
    out, _ = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"a waiting process failed (exit {proc.returncode})")
    return json.loads(out.strip().splitlines()[-1])
