"""The audit trail of the `champion` and `previous-champion` aliases, kept in MLflow.

Every event that moves the aliases (a promotion by a run, `make rollback`, a manual move with
the command line) is one tag on the registered model: `alias_history.<time in ns>.<random>`
= JSON {time, moves: {alias: [from version, to version]}, by, user, reason}. One tag per
event, written once and never edited, so two promotions at the same moment both land (no
read-modify-write of a shared list) and the history lives as long as the registered model.
"""

from __future__ import annotations

import getpass
import json
import os
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlflow import MlflowClient

TAG_PREFIX = "alias_history."


@dataclass(frozen=True)
class AliasEvent:
    time: str  # ISO 8601, UTC
    moves: dict[str, list[str | None]]  # alias -> [from version, to version]
    by: str  # the Dagster run, or the command
    user: str  # who: the MLflow user, or the local OS user on a local store
    reason: str

    @property
    def when(self) -> datetime:
        return datetime.fromisoformat(self.time)

    def describe(self) -> str:
        return ", ".join(
            f"{alias} {old or '-'} -> {new or '-'}" for alias, (old, new) in self.moves.items()
        )


def acting_user(tracking_uri: str) -> str:
    """The MLflow user the client authenticates as; on a local store (no login), the OS user."""
    if tracking_uri.startswith(("http://", "https://")):
        return os.environ.get("MLFLOW_TRACKING_USERNAME") or "anonymous"
    return f"{getpass.getuser()} (local store)"


def record(client: MlflowClient, name: str, event: AliasEvent) -> None:
    key = f"{TAG_PREFIX}{time.time_ns()}.{uuid.uuid4().hex[:8]}"
    client.set_registered_model_tag(name, key, json.dumps(asdict(event), sort_keys=True))


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def history(client: MlflowClient, name: str) -> list[AliasEvent]:
    """Every recorded event, oldest first (none when the model does not exist yet)."""
    from training_assets.resources.mlflow_tracking import is_not_found

    try:
        tags = client.get_registered_model(name).tags or {}
    except Exception as error:
        if is_not_found(error):
            return []
        raise
    entries = sorted(
        (int(key.split(".")[1]), json.loads(value))
        for key, value in tags.items()
        if key.startswith(TAG_PREFIX)
    )
    return [AliasEvent(**entry) for _, entry in entries]


def champion_at(events: list[AliasEvent], when: datetime, alias: str = "champion") -> str | None:
    """Which version held `alias` at `when` (None: none yet)."""
    holder = None
    for event in events:
        if alias in event.moves and event.when <= when:
            holder = event.moves[alias][1]
    return holder


def parse_time(text: str) -> datetime:
    """An ISO 8601 time; one without a zone is taken as UTC. Raises ValueError saying why."""
    try:
        parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO 8601 time, e.g. 2026-11-30T12:00:00Z") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def markdown(events: list[AliasEvent], limit: int = 20) -> str:
    """The newest events as a table, for the Dagster UI."""
    lines = ["| time (UTC) | moves | by | user | reason |", "|---|---|---|---|---|"]
    for event in reversed(events[-limit:]):
        cells = [event.time, event.describe(), event.by, event.user, event.reason]
        lines.append(
            "| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in cells) + " |"
        )
    return "\n".join(lines)
