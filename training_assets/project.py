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


class SettingError(ValueError):
    """An environment variable holds a value the pipeline cannot use; names the variable."""


def float_setting(
    name: str, default: float, *, above: float | None = None, at_least: float | None = None
) -> float:
    """A number from an environment variable; a bad value names the variable and the value."""
    raw = setting(name, str(default))
    try:
        value = float(raw)
    except ValueError:
        raise SettingError(f"Setting {name}={raw!r} is not a number.") from None
    if value != value or (above is not None and value <= above):
        raise SettingError(f"Setting {name}={raw!r} must be a number above {above}.")
    if at_least is not None and value < at_least:
        raise SettingError(f"Setting {name}={raw!r} must be at least {at_least}.")
    return value


def int_setting(name: str, default: int, *, at_least: int | None = None) -> int:
    """A whole number from an environment variable; a bad value names the variable."""
    raw = setting(name, str(default))
    try:
        value = int(raw)
    except ValueError:
        raise SettingError(f"Setting {name}={raw!r} is not a whole number.") from None
    if at_least is not None and value < at_least:
        raise SettingError(f"Setting {name}={raw!r} must be at least {at_least}.")
    return value
