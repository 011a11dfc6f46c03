"""Where the lakehouse lives: ``--home`` > ``LAKEINFER_HOME`` > ``./lakehouse``, and where its
``config.toml`` is. Kept apart from :mod:`lakeinfer.config` (which validates what the file
holds) so that finding the home directory imports no validation library.
"""

from __future__ import annotations

import os
from pathlib import Path

HOME_ENV = "LAKEINFER_HOME"
CONFIG_FILE = "config.toml"


def resolve_home(home: str | os.PathLike[str] | None = None) -> Path:
    """The lakehouse directory: the argument, else ``$LAKEINFER_HOME``, else ``./lakehouse``."""
    chosen = home if home is not None else os.environ.get(HOME_ENV) or "lakehouse"
    return Path(chosen).expanduser().resolve()


def config_path(home: Path) -> Path:
    """``<home>/config.toml``."""
    return home / CONFIG_FILE
