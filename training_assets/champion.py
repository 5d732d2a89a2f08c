"""Look at, move and roll back the champion model in the MLflow Model Registry.

    python -m training_assets.champion show                    # make champion: aliases, history
    python -m training_assets.champion rollback                # make rollback
    python -m training_assets.champion set --version 3 --reason "hotfix of 2026-12-01"
    python -m training_assets.champion at 2026-11-30T12:00:00Z  # which version was champion

Every move is recorded in the registered model's alias history with the time, the versions,
the command, the user and the reason. Settings (tracking URI, model name) are the
pipeline's own, from the same environment.
"""

from __future__ import annotations

import argparse
import sys

from training_assets.domain import alias_history
from training_assets.domain.registry import (
    CHAMPION_ALIAS,
    PREVIOUS_CHAMPION_ALIAS,
    aliases,
    move_aliases,
)


class RollbackError(RuntimeError):
    """There is nothing to roll back to."""


def describe(client, name: str) -> dict[str, str | None]:
    return aliases(client, name)


def rollback(client, name: str, *, user: str = "", by: str = "") -> dict[str, str | None]:
    """Swap the two aliases: the previous champion serves again, and one more call undoes it."""
    current = describe(client, name)
    champion, previous = current[CHAMPION_ALIAS], current[PREVIOUS_CHAMPION_ALIAS]
    if previous is None:
        raise RollbackError(f"{name} has no @{PREVIOUS_CHAMPION_ALIAS} version to roll back to.")
    targets = {CHAMPION_ALIAS: previous}
    if champion is not None:
        targets[PREVIOUS_CHAMPION_ALIAS] = champion
    move_aliases(
        client,
        name,
        targets,
        by=by or "python -m training_assets.champion rollback",
        user=user or "unknown",
        reason="manual rollback",
    )
    return describe(client, name)


def set_champion(
    client, name: str, version: str, *, user: str, reason: str, by: str = ""
) -> dict[str, str | None]:
    """Make `version` the champion by hand; the old champion becomes previous-champion."""
    client.get_model_version(name, version)  # refuses a version that does not exist
    current = describe(client, name)[CHAMPION_ALIAS]
    targets = {}
    if current is not None and current != str(version):
        targets[PREVIOUS_CHAMPION_ALIAS] = current
    targets[CHAMPION_ALIAS] = str(version)
    command = by or f"python -m training_assets.champion set --version {version}"
    move_aliases(client, name, targets, by=command, user=user, reason=f"manual: {reason}")
    return describe(client, name)


def _print_history(client, name: str) -> None:
    events = alias_history.history(client, name)
    print(f"History ({len(events)} event(s), newest first):")
    for event in reversed(events):
        print(f"  {event.time}  {event.describe()}")
        print(f"    by {event.by}; user {event.user}")
        print(f"    reason: {event.reason}")


def main(argv: list[str] | None = None) -> int:
    from training_assets.resources.build import build_resources

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="action", required=True)
    commands.add_parser("show", help="the aliases and their history")
    commands.add_parser("rollback", help="swap champion and previous-champion")
    manual = commands.add_parser("set", help="make a version the champion")
    manual.add_argument("--version", required=True)
    manual.add_argument("--reason", required=True)
    at = commands.add_parser("at", help="which version was champion at a time (ISO 8601)")
    at.add_argument("time")
    args = parser.parse_args(argv)

    tracking = build_resources()["mlflow_tracking"]
    client, name = tracking.client(), tracking.registered_model_name
    user = alias_history.acting_user(tracking.tracking_uri)
    if args.action == "at":
        try:
            when = alias_history.parse_time(args.time)
        except ValueError as error:
            print(f"Bad time: {error}", file=sys.stderr)
            return 2
        version = alias_history.champion_at(alias_history.history(client, name), when)
        print(f"{name}@{CHAMPION_ALIAS} at {when.isoformat()}: version {version or '-'}")
        return 0
    try:
        if args.action == "rollback":
            current = rollback(client, name, user=user)
        elif args.action == "set":
            current = set_champion(client, name, args.version, user=user, reason=args.reason)
        else:
            current = describe(client, name)
    except RollbackError as error:
        print(error, file=sys.stderr)
        return 1
    for alias, version in current.items():
        print(f"{name}@{alias}: version {version or '-'}")
    _print_history(client, name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
