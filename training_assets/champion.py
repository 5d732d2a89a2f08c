"""Look at and roll back the champion model in the MLflow Model Registry.

    python -m training_assets.champion show
    python -m training_assets.champion rollback   # champion <-> previous-champion

Settings (tracking URI, model name) are the pipeline's own, from the same environment.
"""

import argparse
import sys

from training_assets.domain.registry import CHAMPION_ALIAS, PREVIOUS_CHAMPION_ALIAS, aliases


class RollbackError(RuntimeError):
    """There is nothing to roll back to."""


def describe(client, name: str) -> dict[str, str | None]:
    return aliases(client, name)


def rollback(client, name: str) -> dict[str, str | None]:
    """Swap the two aliases: the previous champion serves again, and one more call undoes it."""
    current = describe(client, name)
    champion, previous = current[CHAMPION_ALIAS], current[PREVIOUS_CHAMPION_ALIAS]
    if previous is None:
        raise RollbackError(f"{name} has no @{PREVIOUS_CHAMPION_ALIAS} version to roll back to.")
    client.set_registered_model_alias(name, CHAMPION_ALIAS, previous)
    if champion is not None:
        client.set_registered_model_alias(name, PREVIOUS_CHAMPION_ALIAS, champion)
    return describe(client, name)


def main(argv: list[str] | None = None) -> int:
    from training_assets.resources.build import build_resources

    parser = argparse.ArgumentParser(description="Show or roll back the champion model.")
    parser.add_argument("action", choices=["show", "rollback"])
    args = parser.parse_args(argv)
    tracking = build_resources()["mlflow_tracking"]
    client, name = tracking.client(), tracking.registered_model_name
    try:
        current = rollback(client, name) if args.action == "rollback" else describe(client, name)
    except RollbackError as error:
        print(error, file=sys.stderr)
        return 1
    for alias, version in current.items():
        print(f"{name}@{alias}: version {version or '-'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
