"""Where the project lives and where its local state goes by default.

Every default sits under the repository, so a fresh clone works with no settings; each can be
moved with an environment variable (see README, "Settings").
"""

import os
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent


def setting(name: str, default: str) -> str:
    """An environment variable, or the default when it is unset or empty."""
    return os.environ.get(name) or default


def path_setting(name: str, default_relative: str) -> str:
    """A path from an environment variable, else under the project directory; absolute."""
    return str(Path(setting(name, str(PROJECT_DIR / default_relative))).resolve())


def float_setting(name: str, default: float) -> float:
    """A number from an environment variable; a bad value names the variable."""
    raw = setting(name, str(default))
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"Setting {name}={raw!r} is not a number.") from None
