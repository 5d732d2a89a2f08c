"""Registry stage: register the validated model and make it the champion.

Only a model whose blocking checks all passed gets here within a run. The asset also checks
the instance's latest check results itself, so materializing it on its own (say from the UI)
cannot promote a model whose checks failed or never ran: such a model is registered without
the champion alias (`promoted: false`).
"""

import json
import subprocess
from typing import Any

import dagster as dg

from training_assets.assets import OWNERS
from training_assets.checks.model_checks import BLOCKING_MODEL_CHECKS, CHAMPION_ALIAS
from training_assets.project import PROJECT_DIR
from training_assets.resources.mlflow_tracking import (
    MlflowResource,
    is_not_found,
    version_by_alias,
)
from training_assets.resources.thresholds import ModelThresholds

GROUP = "registry"
PREVIOUS_CHAMPION_ALIAS = "previous-champion"
MODEL_DESCRIPTION = (
    "ElasticNet regressor predicting trip_completed (0/1) for a driver order from the Feast "
    "driver_stats features conv_rate, acc_rate and avg_daily_trips, as of the order's time. "
    "Trained and validated by the Dagster training pipeline (training_assets)."
)


def _code_version() -> str:
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=PROJECT_DIR,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return sha or "unknown"


def _latest_tag(context: dg.AssetExecutionContext, key: str, tag: str) -> str:
    event = context.instance.get_latest_materialization_event(dg.AssetKey(key))
    return (event.asset_materialization.tags or {}).get(tag, "unknown") if event else "unknown"


def _failed_blocking_checks(context: dg.AssetExecutionContext) -> list[str]:
    """Blocking model checks whose newest result on the latest materialization of their
    asset is missing or failed."""
    failed = []
    for check in BLOCKING_MODEL_CHECKS:
        for key in check.check_keys:
            latest = context.instance.get_latest_materialization_event(key.asset_key)
            record = latest and _newest_evaluation_of_run(context.instance, key, latest.run_id)
            if not (record and record.status.value == "SUCCEEDED"):
                failed.append(key.name)
    return failed


def _newest_evaluation_of_run(instance: dg.DagsterInstance, key: dg.AssetCheckKey, run_id: str):
    """The newest finished evaluation of the check on the value that run `run_id` stored.
    Not simply the check's newest record: records are numbered when a run is *created*, so
    runs launched together and waiting in the queue (test_run_queue.py) hold newer, merely
    planned records, and a run created earlier can finish later."""
    from dagster._core.storage.asset_check_execution_record import (
        AssetCheckExecutionRecordStatus as Status,
    )

    records = instance.event_log_storage.get_asset_check_execution_history(
        key, limit=50, status={Status.SUCCEEDED, Status.FAILED}
    )
    on_run = [r for r in records if r.event is not None and _evaluated_run(r) == run_id]
    return max(on_run, key=lambda r: r.event.timestamp, default=None)


def _evaluated_run(record) -> str:
    """The run of the materialization the check evaluated: the check's own run, except when
    a re-execution from failure re-ran the check on the parent run's stored value."""
    evaluation = record.event.asset_check_evaluation if record.event else None
    target = evaluation.target_materialization_data if evaluation else None
    return target.run_id if target else record.run_id


@dg.asset(
    group_name=GROUP,
    io_manager_key="json_io_manager",
    kinds={"mlflow"},
    owners=OWNERS,
    description=(
        "The model as a new version of the registered model, moved to the `champion` alias "
        "(the previous champion becomes `previous-champion`). Only reached when the model's "
        "blocking checks passed."
    ),
)
def registered_model_version(
    context: dg.AssetExecutionContext,
    mlflow_tracking: MlflowResource,
    thresholds: ModelThresholds,
    model: dict[str, Any],
    model_metrics: dict[str, float],
) -> dict[str, Any]:
    failed_checks = _failed_blocking_checks(context)
    tags = {
        "dagster.run_id": context.run.run_id,
        "code_version": _code_version(),
        "training_frame_data_version": _latest_tag(
            context, "training_frame", "dagster/data_version"
        ),
        "metrics": json.dumps(model_metrics, sort_keys=True),
        "thresholds": thresholds.model_dump_json(),
        "validation": "passed" if not failed_checks else f"not passed: {failed_checks}",
    }
    name = mlflow_tracking.registered_model_name
    with mlflow_tracking.outage_retries(context):
        client = mlflow_tracking.client()
        version = _register_once(context, mlflow_tracking, client, name, model, tags)
        client.update_model_version(
            name,
            version,
            description=(
                f"Dagster run {context.run.run_id}: RMSE {model_metrics['rmse']:.4f}, "
                f"MAE {model_metrics['mae']:.4f} on the test set; params {model['params']}."
            ),
        )
        promoted = not failed_checks
        if promoted:
            _promote(client, name, version)
        else:
            context.log.warning(
                f"{name} version {version} registered but not promoted: "
                f"blocking checks not passed on the latest materialization: {failed_checks}"
            )
        aliases = sorted(client.get_model_version(name, version).aliases)
        version_url = mlflow_tracking.model_version_url(version)
    registered = {
        "name": name,
        "version": version,
        "run_id": model["run_id"],
        "model_uri": f"models:/{name}/{version}",
        "aliases": aliases,
        "promoted": promoted,
    }
    context.add_output_metadata(
        {
            **{key: str(value) for key, value in registered.items()},
            "model_version": dg.MetadataValue.url(version_url),
            "source": model["model_uri"],
        }
    )
    return registered


def _existing_version(client, name: str, model: dict[str, Any]):
    """The version an earlier attempt registered for this logged model, if any."""
    found = client.search_model_versions(f"name = '{name}' and run_id = '{model['run_id']}'")
    for version in found:
        if version.model_id == model.get("model_id") or version.source == model["model_uri"]:
            return version
    return None


def _register_once(
    context: dg.AssetExecutionContext,
    mlflow_tracking: MlflowResource,
    client,
    name: str,
    model: dict[str, Any],
    tags: dict[str, str],
) -> str:
    """Register the logged model as a new version, unless an earlier attempt (a retried step,
    a re-execution, a run killed half-way) already did: then reuse that version and refresh
    its tags, so one logged model never becomes two versions. The tags are set in the same
    request that creates the version: a version never exists without them."""
    import mlflow

    try:
        client.get_registered_model(name)
    except Exception as error:
        if not is_not_found(error):
            raise
        client.create_registered_model(name, description=MODEL_DESCRIPTION)
    existing = _existing_version(client, name, model)
    if existing is not None:
        context.log.info(
            f"{name} version {existing.version} already holds this model (registered by an "
            "earlier attempt): completing it instead of adding a version."
        )
        for key, value in tags.items():
            client.set_model_version_tag(name, existing.version, key, value)
        return str(existing.version)
    mlflow_tracking.activate()
    # register_model resolves the logged model's `models:/<model_id>` URI to its artifacts.
    return str(mlflow.register_model(model["model_uri"], name, tags=tags).version)


def _promote(client, name: str, version: str) -> None:
    """`champion` to the new version; the old champion keeps its version as previous-champion.
    Idempotent: promoting the current champion again changes nothing."""
    current = version_by_alias(client, name, CHAMPION_ALIAS)
    if current is not None and str(current.version) != str(version):
        client.set_registered_model_alias(name, PREVIOUS_CHAMPION_ALIAS, current.version)
    client.set_registered_model_alias(name, CHAMPION_ALIAS, version)
