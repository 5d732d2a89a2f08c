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
from training_assets.resources.mlflow_tracking import MlflowResource
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
    """Blocking model checks whose latest result does not pass on the latest materialization."""
    failed = []
    for check in BLOCKING_MODEL_CHECKS:
        for key in check.check_keys:
            record = context.instance.get_latest_asset_check_evaluation_record(key)
            latest = context.instance.get_latest_materialization_event(key.asset_key)
            ok = (
                record is not None
                and record.status.value == "SUCCEEDED"
                and latest is not None
                and record.run_id == latest.run_id
            )
            if not ok:
                failed.append(key.name)
    return failed


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
    from mlflow.exceptions import MlflowException

    client = mlflow_tracking.client()
    name = mlflow_tracking.registered_model_name
    try:
        client.get_registered_model(name)
    except MlflowException:
        client.create_registered_model(name, description=MODEL_DESCRIPTION)

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
    import mlflow

    mlflow_tracking.activate()
    # register_model resolves the logged model's `models:/<model_id>` URI to its artifacts.
    version = mlflow.register_model(model["model_uri"], name, tags=tags)
    client.update_model_version(
        name,
        version.version,
        description=(
            f"Dagster run {context.run.run_id}: RMSE {model_metrics['rmse']:.4f}, "
            f"MAE {model_metrics['mae']:.4f} on the test set; params {model['params']}."
        ),
    )
    promoted = not failed_checks
    if promoted:
        _promote(client, name, version.version)
    else:
        context.log.warning(
            f"{name} version {version.version} registered but not promoted: "
            f"blocking checks not passed on the latest materialization: {failed_checks}"
        )
    aliases = sorted(client.get_model_version(name, version.version).aliases)
    registered = {
        "name": name,
        "version": str(version.version),
        "run_id": model["run_id"],
        "model_uri": f"models:/{name}/{version.version}",
        "aliases": aliases,
        "promoted": promoted,
    }
    context.add_output_metadata(
        {
            **{key: str(value) for key, value in registered.items()},
            "model_version": dg.MetadataValue.url(
                mlflow_tracking.model_version_url(str(version.version))
            ),
            "source": model["model_uri"],
        }
    )
    return registered


def _promote(client, name: str, version: str) -> None:
    """`champion` to the new version; the old champion keeps its version as previous-champion."""
    from mlflow.exceptions import MlflowException

    try:
        current = client.get_model_version_by_alias(name, CHAMPION_ALIAS)
    except MlflowException:
        current = None
    if current is not None and str(current.version) != str(version):
        client.set_registered_model_alias(name, PREVIOUS_CHAMPION_ALIAS, current.version)
    client.set_registered_model_alias(name, CHAMPION_ALIAS, version)
