"""make test's two pytest-xdist workers keep every test of one ``xdist_group`` on one worker.

The stack's tests share one production-shaped stack (a session fixture): split over two workers,
each worker starts a stack of its own on 2 cores, and a test that reads what another test ran
(the token search reads the serving runs' logs) finds nothing. pytest-xdist groups by a suffix it
writes into each item's node id, which some pytest releases no longer read (9.2): the group is
then handed out test by test. This runs a small suite the way make test runs the real one.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

GROUPED = """
import pytest

pytestmark = [pytest.mark.xdist_group("shared")]


def test_one(shared):
    assert shared


def test_two(shared):
    assert shared
"""

LOOSE = """
def test_one():
    pass


def test_two():
    pass
"""

CONFTEST = """
import os

import pytest


@pytest.fixture(scope="session")
def shared():
    with open(os.environ["STARTS_FILE"], "a") as starts:
        starts.write(os.environ["PYTEST_XDIST_WORKER"] + "\\n")
    return True
"""


def make_test_pytest_args() -> list[str]:
    """The pytest arguments of the Makefile's ``test`` target, TEST_WORKERS at its default."""
    makefile = (REPO / "Makefile").read_text()
    workers = re.search(r"^TEST_WORKERS \?= (\d+)$", makefile, re.M)
    recipe = re.search(r"^test: .*\n((?:\t.*\n)+)", makefile, re.M)
    assert workers, "the Makefile has no TEST_WORKERS default"
    assert recipe, "the Makefile has no test target"
    line = next(cmd for cmd in recipe.group(1).split("\n") if "/pytest" in cmd)
    args = line.split("/pytest", 1)[1].split()
    return [workers.group(1) if arg == "$(TEST_WORKERS)" else arg for arg in args]


def test_one_group_runs_on_one_worker_under_make_tests_arguments(tmp_path: Path) -> None:
    args = make_test_pytest_args()
    assert "-n" in args, args  # make test runs on workers: the grouping is what is under test
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "pytest.ini").write_text("[pytest]\n")
    (suite / "conftest.py").write_text(CONFTEST)
    for n in range(4):
        (suite / f"test_grouped_{n}.py").write_text(GROUPED)
        (suite / f"test_loose_{n}.py").write_text(LOOSE)
    starts = tmp_path / "starts"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "PLATFORM_OPS_"))}
    env["STARTS_FILE"] = str(starts)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=suite,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "16 passed" in done.stdout, done.stdout[-3000:]
    workers = starts.read_text().split()
    assert len(workers) == 1, f"the group's session fixture started on {workers}: the group was split"
