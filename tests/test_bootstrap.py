"""scripts/bootstrap.sh and the Debian packages of `make stack` (postgresql, redis-server, chromium).

On a machine lacking them, bootstrap installs them with apt-get when it runs as root; any other
user gets the exact command to run and bootstrap stops with exit status 2. Checked with
``--debian-only`` (the same check, nothing else), an empty folder as the root the packages' files
are looked for under (BOOTSTRAP_SYSROOT) and a PATH holding only what the script needs, as a
non-root user: nothing is installed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BOOTSTRAP = REPO / "scripts" / "bootstrap.sh"
NOBODY = 65534


@pytest.fixture
def machine() -> Iterator[Path]:
    """A folder the unprivileged user can enter: ``bin/`` for PATH, ``root/`` as the sysroot."""
    with tempfile.TemporaryDirectory(prefix="bootstrap-") as tmp:
        base = Path(tmp)
        os.chmod(base, 0o755)  # noqa: S103 - the unprivileged user must enter it
        (base / "bin").mkdir()
        (base / "root").mkdir()
        for tool in ("bash", "id", "dirname"):  # what the Debian check runs, and nothing else
            (base / "bin" / tool).symlink_to(shutil.which(tool) or f"/usr/bin/{tool}")
        yield base


def _run_unprivileged(machine: Path) -> subprocess.CompletedProcess:
    env = {"PATH": str(machine / "bin"), "BOOTSTRAP_SYSROOT": str(machine / "root"), "HOME": str(machine)}
    argv = [str(machine / "bin" / "bash"), str(BOOTSTRAP), "--debian-only"]
    if os.geteuid() == 0:  # drop to nobody, as a developer without sudo runs it
        setpriv = shutil.which("setpriv") or "/usr/bin/setpriv"
        argv = [setpriv, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", *argv]
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, check=False)


def test_missing_packages_print_the_install_command_and_stop(machine: Path) -> None:
    proc = _run_unprivileged(machine)
    assert proc.returncode == 2, proc
    assert "missing Debian packages: postgresql redis-server chromium" in proc.stderr
    assert (
        "  sudo apt-get update && sudo apt-get install -y postgresql redis-server chromium\n" in proc.stderr
    )
    assert "installing" not in proc.stdout + proc.stderr


def test_only_the_missing_packages_are_named(machine: Path) -> None:
    initdb = machine / "root" / "usr" / "lib" / "postgresql" / "15" / "bin" / "initdb"
    initdb.parent.mkdir(parents=True)
    initdb.write_text("#!/bin/sh\n")
    initdb.chmod(0o755)
    (machine / "bin" / "redis-server").symlink_to(shutil.which("true") or "/usr/bin/true")
    proc = _run_unprivileged(machine)
    assert proc.returncode == 2, proc
    assert "  sudo apt-get update && sudo apt-get install -y chromium\n" in proc.stderr


def test_nothing_missing_nothing_to_do(machine: Path) -> None:
    for path in ("usr/lib/postgresql/15/bin/initdb", "usr/bin/redis-server", "usr/lib/chromium/chromium"):
        exe = machine / "root" / path
        exe.parent.mkdir(parents=True, exist_ok=True)
        exe.write_text("#!/bin/sh\n")
        exe.chmod(0o755)
    proc = _run_unprivileged(machine)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", ""), proc
