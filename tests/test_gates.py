"""The checks a commit goes through are the same everywhere: make lint, pre-commit and CI."""

from __future__ import annotations

import shlex
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def make_lint_commands(makefile: str) -> list[str]:
    """The commands of the ``lint`` target, with ``$(VENV)`` spelled as the project's .venv."""
    lines = makefile.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("lint:"))
    commands = []
    for line in lines[start + 1 :]:
        if not line.startswith("\t"):
            break
        commands.append(line.strip().replace("$(VENV)/", ".venv/"))
    return commands


def pre_commit_commands(config: str) -> list[str]:
    """The entry of each hook, without the environment it sets (``env NAME=value ...``)."""
    commands = []
    for repo in yaml.safe_load(config)["repos"]:
        for hook in repo["hooks"]:
            argv = shlex.split(hook["entry"])
            if argv[0] == "env":
                argv = argv[1:]
                while "=" in argv[0]:
                    argv = argv[1:]
            commands.append(shlex.join(argv))
    return commands


def test_pre_commit_runs_exactly_the_checks_of_make_lint() -> None:
    lint = make_lint_commands((REPO / "Makefile").read_text())
    assert lint, "the Makefile has a lint target with commands"
    assert pre_commit_commands((REPO / ".pre-commit-config.yaml").read_text()) == lint


def test_pre_commit_hooks_run_from_the_project_venv_on_the_whole_tree() -> None:
    for repo in yaml.safe_load((REPO / ".pre-commit-config.yaml").read_text())["repos"]:
        assert repo["repo"] == "local", "no hook is downloaded"
        for hook in repo["hooks"]:
            assert hook["language"] == "system", hook["id"]
            assert hook["pass_filenames"] is False, f"{hook['id']} checks the tree as make lint does"
            assert hook["always_run"] is True, hook["id"]


def test_ci_runs_make_test_which_runs_make_lint() -> None:
    ci = (REPO / ".ci" / "run").read_text()
    assert "exec make test" in ci
    makefile = (REPO / "Makefile").read_text()
    assert any(line.startswith("test: lint") for line in makefile.splitlines())


def test_the_comparison_sees_a_missing_or_different_check() -> None:
    makefile = "lint: bootstrap\n\t$(VENV)/bin/ruff check .\n\t$(VENV)/bin/mypy\n\ntest: lint\n"
    assert make_lint_commands(makefile) == [".venv/bin/ruff check .", ".venv/bin/mypy"]
    config = (
        "repos:\n- repo: local\n  hooks:\n"
        "  - {id: a, name: a, entry: env PYTHONPATH=plugins .venv/bin/ruff check ., language: system}\n"
    )
    assert pre_commit_commands(config) == [".venv/bin/ruff check ."]
    assert pre_commit_commands(config) != make_lint_commands(makefile)
