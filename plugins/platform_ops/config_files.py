"""YAML configuration files under include/config (outside core: reading a file is I/O).

Read at run time where the content only feeds tasks (the CDC table list); read at parse time only
where it shapes the DAG itself (whether slot capacity wraps the work). Either way a local file,
never a network call, and a bad file names itself.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from platform_ops.exceptions import ConfigError


def load_yaml(path: str | Path) -> dict[str, Any]:
    """A YAML mapping from ``path``; a missing, unparsable or non-mapping file names itself."""
    p = Path(path)
    try:
        doc = yaml.safe_load(p.read_text())
    except FileNotFoundError:
        raise ConfigError(str(p), "does not exist", "create it or point the DAG at the right file") from None
    except yaml.YAMLError as exc:
        raise ConfigError(str(p), f"is not valid YAML ({exc})", "fix the syntax") from exc
    if not isinstance(doc, dict):
        raise ConfigError(str(p), "is not a YAML mapping", "start the file with a key such as 'tables:'")
    return doc


def dag_configs(folder: str | Path, prefix: str) -> dict[str, list[Path]]:
    """``{dag_id: [config files]}`` for the ``*.yaml`` files of ``folder``, one DAG per file.

    The DAG id is ``prefix`` + the file's stem with anything but letters, digits and ``_`` as ``_``,
    so ``a-b.yaml`` and ``a_b.yaml`` claim the same id: a list of two files is a collision the DAG
    file must refuse, naming both (see :func:`collision`).
    """
    out: dict[str, list[Path]] = {}
    for path in sorted(Path(folder).glob("*.yaml")):
        out.setdefault(prefix + re.sub(r"[^A-Za-z0-9_]", "_", path.stem), []).append(path)
    return out


def collision(dag_id: str, paths: list[Path]) -> str | None:
    """The message for two config files mapping to one DAG id, None when there is one file."""
    if len(paths) < 2:
        return None
    names = " and ".join(p.name for p in paths)
    return f"{names} both map to DAG id {dag_id}; rename one of them (DAG ids replace - and . with _)"
