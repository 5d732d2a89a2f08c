"""Registry stage: register the validated model and make it the champion.

Only a model whose blocking checks all passed gets here within a run. The asset also reads
the latest results of those checks itself, so materializing it on its own (say from the UI)
cannot promote a model whose checks failed or never ran: such a model is registered without
the champion alias (`promoted: false`).
"""

import json
from typing import Any

import dagster as dg

from training_assets.assets import OWNERS
from training_assets.domain.check_history import newest_evaluation
from training_assets.domain.registry import code_version, promote, register_once
from training_assets.resources.mlflow_tracking import MlflowResource
from training_assets.resources.thresholds import ModelThresholds

GROUP = "registry"
# The checks that must have passed on the latest model and metrics for a promotion. Named
# here, not imported from the checks layer: checks read assets, assets never import checks.
BLOCKING_MODEL_CHECKS = (
    dg.AssetCheckKey(dg.AssetKey("model_metrics"), "model_metrics_within_thresholds"),
    dg.AssetCheckKey(dg.AssetKey("model_metrics"), "model_not_worse_than_champion"),
    dg.AssetCheckKey(dg.AssetKey("model"), "model_serving_contract"),
)


def _latest_tag(context: dg.AssetExecutionContext, key: str, tag: str) -> str:
    event = context.instance.get_latest_materialization_event(dg.AssetKey(key))
    return (event.asset_materialization.tags or {}).get(tag, "unknown") if event else "unknown"


def failed_blocking_checks(context: dg.AssetExecutionContext) -> list[str]:
    """Blocking model checks whose newest result on the latest materialization of their
    asset is missing or failed."""
    failed = []
    for key in BLOCKING_MODEL_CHECKS:
        latest = context.instance.get_latest_materialization_event(key.asset_key)
        evaluation = latest and newest_evaluation(
            context.instance, key, latest.run_id, also_look_in=context.run.run_id
        )
        if not (evaluation and evaluation.passed):
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
    failed_checks = failed_blocking_checks(context)
    tags = {
        "dagster.run_id": context.run.run_id,
        "code_version": code_version(),
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
        version = register_once(mlflow_tracking, model, tags, context.log)
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
            promote(client, name, version)
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
