"""YAML configuration files under include/config (outside core: reading a file is I/O).

Read at run time where the content only feeds tasks (the CDC table list); read at parse time only
where it shapes the DAG itself (whether slot capacity wraps the work). Either way a local file,
never a network call, and a bad file names itself.
"""

from __future__ import annotations

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
