"""The audit trail of the `champion` and `previous-champion` aliases, kept in MLflow.

Every move of an alias (a promotion by a run, `make rollback`, a manual move with the
command line) is one tag on the registered model: `alias_history.<time in ns>.<random>` =
JSON {time, alias, from_version, to_version, by, user, reason}. One tag per move, written
once and never edited, so two promotions at the same moment both land (no read-modify-write
of a shared list) and the history survives as long as the registered model does.
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
class AliasMove:
    time: str  # ISO 8601, UTC
    alias: str
    from_version: str | None
    to_version: str | None
    by: str  # the Dagster run id, or the command
    user: str  # who moved it: the MLflow user, or the local OS user on a local store
    reason: str

    @property
    def when(self) -> datetime:
        return datetime.fromisoformat(self.time)


def acting_user(tracking_uri: str) -> str:
    """The MLflow user the client authenticates as; on a local store (no login), the OS user."""
    if tracking_uri.startswith(("http://", "https://")):
        return os.environ.get("MLFLOW_TRACKING_USERNAME") or "anonymous"
    return f"{getpass.getuser()} (local store)"


def record(client: MlflowClient, name: str, moves: list[AliasMove]) -> None:
    for move in moves:
        key = f"{TAG_PREFIX}{time.time_ns()}.{uuid.uuid4().hex[:8]}"
        client.set_registered_model_tag(name, key, json.dumps(asdict(move), sort_keys=True))


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def history(client: MlflowClient, name: str) -> list[AliasMove]:
    """Every recorded move, oldest first (none when the model does not exist yet)."""
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
    return [AliasMove(**entry) for _, entry in entries]


def champion_at(moves: list[AliasMove], when: datetime, alias: str = "champion") -> str | None:
    """Which version held `alias` at `when` (None: none yet, or it was unset)."""
    holder = None
    for move in moves:
        if move.alias == alias and move.when <= when:
            holder = move.to_version
    return holder


def parse_time(text: str) -> datetime:
    """An ISO 8601 time; one without a zone is taken as UTC. Raises ValueError saying why."""
    try:
        parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO 8601 time, e.g. 2026-11-30T12:00:00Z") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def markdown(moves: list[AliasMove], limit: int = 20) -> str:
    """The newest moves as a table, for the Dagster UI."""
    lines = [
        "| time (UTC) | alias | from | to | by | user | reason |",
        "|---|---|---|---|---|---|---|",
    ]
    for move in reversed(moves[-limit:]):
        cells = [
            move.time,
            move.alias,
            move.from_version or "-",
            move.to_version or "-",
            move.by,
            move.user,
            move.reason.replace("|", "\\|").replace("\n", " "),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
