"""The MLflow Model Registry side of promotion: aliases, idempotent registration, promotion.

`champion` is the version that serves; the version it replaced keeps `previous-champion`
so `make rollback` can swap them back.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import time
from typing import TYPE_CHECKING, Any

from training_assets.domain import alias_history
from training_assets.project import PROJECT_DIR
from training_assets.resources.mlflow_tracking import MlflowResource, is_not_found, version_by_alias

if TYPE_CHECKING:
    from mlflow import MlflowClient

LINEAGE_KEY_TAG = "lineage_key"
CHAMPION_ALIAS = "champion"
PREVIOUS_CHAMPION_ALIAS = "previous-champion"
MODEL_DESCRIPTION = (
    "ElasticNet regressor predicting trip_completed (0/1) for a driver order from the Feast "
    "driver_stats features conv_rate, acc_rate and avg_daily_trips, as of the order's time. "
    "Trained and validated by the Dagster training pipeline (training_assets)."
)


def code_version() -> str:
    """The project's git commit; with uncommitted changes to tracked files,
    `<sha>+dirty.<hash of the diff>` (the same edits give the same version). "unknown"
    outside a git checkout (e.g. in the Docker image)."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=PROJECT_DIR, capture_output=True, text=True, timeout=10, check=True
        ).stdout

    try:
        sha = git("rev-parse", "HEAD").strip()
        diff = git("diff", "HEAD")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    if not sha:
        return "unknown"
    return f"{sha}+dirty.{hashlib.sha256(diff.encode()).hexdigest()[:12]}" if diff else sha


# The versions of the libraries that shape a fitted model and its data.
RESULT_LIBRARIES = ("scikit-learn", "numpy", "scipy", "pandas", "pyarrow", "duckdb", "feast")


def library_versions() -> dict[str, str]:
    from importlib import metadata

    return {name: metadata.version(name) for name in RESULT_LIBRARIES}


def lineage_key(training_data: str, code: str, run_config: dict[str, Any]) -> str:
    """Equal for two runs that would train the same model: same data, code and config."""
    text = json.dumps([training_data, code, run_config], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def identical_version(client: MlflowClient, name: str, key: str):
    """The newest registered version with this lineage key, or None (none, or no model)."""
    from mlflow.exceptions import MlflowException

    try:
        versions = client.search_model_versions(f"name = '{name}'")
    except MlflowException as error:
        if is_not_found(error):
            return None
        raise
    same = [v for v in versions if (v.tags or {}).get(LINEAGE_KEY_TAG) == key]
    return max(same, key=lambda v: int(v.version), default=None)


def aliases(client: MlflowClient, name: str) -> dict[str, str | None]:
    """Which version holds `champion` and `previous-champion` (None: no such alias)."""
    found = {
        alias: version_by_alias(client, name, alias)
        for alias in (CHAMPION_ALIAS, PREVIOUS_CHAMPION_ALIAS)
    }
    return {alias: None if v is None else str(v.version) for alias, v in found.items()}


def _existing_version(client: MlflowClient, name: str, model: dict[str, Any]):
    """The version an earlier attempt registered for this logged model, if any."""
    found = client.search_model_versions(f"name = '{name}' and run_id = '{model['run_id']}'")
    for version in found:
        if version.model_id == model.get("model_id") or version.source == model["model_uri"]:
            return version
    return None


def register_once(
    mlflow_tracking: MlflowResource,
    model: dict[str, Any],
    tags: dict[str, str],
    log: Any,
) -> str:
    """Register the logged model as a new version, unless an earlier attempt (a retried step,
    a re-execution, a run killed half-way) already did: then reuse that version and refresh
    its tags, so one logged model never becomes two versions. The tags are set in the same
    request that creates the version: a version never exists without them."""
    import mlflow

    client = mlflow_tracking.client()
    name = mlflow_tracking.registered_model_name
    try:
        client.get_registered_model(name)
        new_model = False
    except Exception as error:
        if not is_not_found(error):
            raise
        new_model = True
    existing = None if new_model else _existing_version(client, name, model)
    if existing is not None:
        log.info(
            f"{name} version {existing.version} already holds this model (registered by an "
            "earlier attempt): completing it instead of adding a version."
        )
        for key, value in tags.items():
            client.set_model_version_tag(name, existing.version, key, value)
        return str(existing.version)
    mlflow_tracking.activate()
    # register_model creates the registered model when the store has none (and says so),
    # and resolves the logged model's `models:/<model_id>` URI to its artifacts.
    version = str(mlflow.register_model(model["model_uri"], name, tags=tags).version)
    if new_model:
        client.update_registered_model(name, description=MODEL_DESCRIPTION)
    return version


ALIAS_ATTEMPTS = 3


def set_alias(client: MlflowClient, name: str, alias: str, version: str) -> None:
    """`client.set_registered_model_alias`, safe when another run sets the same alias at once.

    MLflow 3.17's SQL registry store sets an alias with `session.merge` (sqlalchemy_store.py,
    `set_registered_model_alias`): a read, then an INSERT when no row was found. Two runs
    promoting at once can both read "no alias" and the later INSERT fails on the alias's key
    ("UNIQUE constraint failed: registered_model_aliases..." on SQLite, "duplicate key" on
    Postgres); seen in two concurrent `dagster asset materialize`. By then the row exists, so
    the same call again updates it: MLflow retries its own version-number race the same way
    (`CREATE_MODEL_VERSION_RETRIES`)."""
    from mlflow.exceptions import MlflowException

    for attempt in range(1, ALIAS_ATTEMPTS + 1):
        try:
            client.set_registered_model_alias(name, alias, version)
            return
        except MlflowException as error:
            message = str(error).lower()
            if attempt == ALIAS_ATTEMPTS or not ("unique" in message or "duplicate" in message):
                raise
            time.sleep(0.05 * attempt)


def move_aliases(
    client: MlflowClient, name: str, targets: dict[str, str], *, by: str, user: str, reason: str
) -> alias_history.AliasEvent | None:
    """Point each alias at its version (in the order given) and record what changed as one
    event; None when nothing changed."""
    moves: dict[str, list[str | None]] = {}
    for alias, version in targets.items():
        current = version_by_alias(client, name, alias)
        before = None if current is None else str(current.version)
        if before == str(version):
            continue
        set_alias(client, name, alias, version)
        moves[alias] = [before, str(version)]
    if not moves:
        return None
    event = alias_history.AliasEvent(
        time=alias_history.now(), moves=moves, by=by, user=user, reason=reason
    )
    alias_history.record(client, name, event)
    return event


def promote(
    client: MlflowClient, name: str, version: str, *, by: str, user: str, reason: str
) -> alias_history.AliasEvent | None:
    """`champion` to the new version; the old champion keeps its version as previous-champion.
    Idempotent: promoting the current champion again changes (and records) nothing. The
    champion moves last, so it always names a complete version."""
    current = version_by_alias(client, name, CHAMPION_ALIAS)
    targets = {}
    if current is not None and str(current.version) != str(version):
        targets[PREVIOUS_CHAMPION_ALIAS] = str(current.version)
    targets[CHAMPION_ALIAS] = str(version)
    return move_aliases(client, name, targets, by=by, user=user, reason=reason)
