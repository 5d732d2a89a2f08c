"""Registry stage: register the validated model and make it the champion.

Only a model whose blocking checks all passed gets here within a run. The asset also reads
the latest results of those checks itself, so materializing it on its own (say from the UI)
cannot promote a model whose checks failed or never ran: such a model is registered without
the champion alias (`promoted: false`).
"""

import json
from typing import Any

import dagster as dg
from pydantic import Field

from training_assets.assets import OWNERS
from training_assets.domain import alias_history
from training_assets.domain.alias_history import acting_user
from training_assets.domain.check_history import newest_evaluation, stored_materialization
from training_assets.domain.registry import (
    LINEAGE_KEY_TAG,
    code_version,
    identical_version,
    library_versions,
    lineage_key,
    promote,
    register_once,
)
from training_assets.io_managers.files import StoredVersion
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


class RegistrationConfig(dg.Config):
    force_new_version: bool = Field(
        default=False,
        description=(
            "Register a new version even when one with the same training data, code and run "
            "config exists."
        ),
    )


def lineage_tags(model: dict[str, Any], test_set: StoredVersion) -> dict[str, str]:
    """What a registered version was trained and tested on, as MLflow model version tags:
    the stored data versions (path, run, content hash), the Feast features, the code, the
    run config and the library versions."""
    train = model.get("train_set") or {}
    frame = (train.get("lineage") or {}).get("derived_from") or {}
    frame_lineage = frame.get("lineage") or {}
    features = frame_lineage.get("features") or {}
    run_config = {"model": model["params"], "split": (train.get("lineage") or {}).get("split")}
    code = code_version()

    def stored(version: dict[str, Any]) -> str:
        keys = ("path", "run_id", "content_hash")
        return json.dumps({k: version.get(k) for k in keys}, sort_keys=True)

    tags = {
        "code_version": code,
        "training_frame_data_version": frame.get("content_hash") or "unknown",
        "data.training_frame": stored(frame),
        "data.train_set": stored(train),
        "data.test_set": stored(test_set.as_dict()),
        "run_config": json.dumps(run_config, sort_keys=True),
        "fit_method": str(model.get("fit_method", "rows")),
        "libraries": json.dumps(library_versions(), sort_keys=True),
        "feast.project": str(features.get("project")),
        "feast.feature_service": str(features.get("feature_service")),
        "feast.feature_views": json.dumps(
            {name: view["fingerprint"] for name, view in features.get("feature_views", {}).items()},
            sort_keys=True,
        ),
    }
    # The same data, code and run config, and the same Feast definitions (a changed ttl, say,
    # is a new version even where it changes no row).
    data = [tags["training_frame_data_version"], tags["feast.feature_service"]]
    data.append(tags["feast.feature_views"])
    tags[LINEAGE_KEY_TAG] = lineage_key("/".join(data), code, run_config)
    return tags


def blocking_check_results(context: dg.AssetExecutionContext) -> dict[str, str | None]:
    """Each blocking model check's newest result on the stored value this step registers
    (this run's, or the latest when this run did not materialize it): its summary when it
    passed, None when it failed or never ran."""
    results: dict[str, str | None] = {}
    for key in BLOCKING_MODEL_CHECKS:
        stored = stored_materialization(context.instance, key.asset_key, context.run.run_id)
        evaluation = stored and newest_evaluation(
            context.instance, key, stored.run_id, also_look_in=context.run.run_id
        )
        passed = bool(evaluation and evaluation.passed)
        summary = evaluation.metadata.get("summary") if passed else None
        results[key.name] = (str(summary.value) if summary else "passed") if passed else None
    return results


@dg.asset(
    group_name=GROUP,
    io_manager_key="json_io_manager",
    kinds={"mlflow"},
    owners=OWNERS,
    # Only the reference (path, run, content hash) of the test set this run's model was
    # evaluated on, for the version's lineage; the data is not loaded.
    ins={"test_set": dg.AssetIn(metadata={"load": "reference"})},
    description=(
        "The model as a new version of the registered model, moved to the `champion` alias "
        "(the previous champion becomes `previous-champion`), with tags naming exactly what "
        "it was trained and tested on. Only reached when the model's blocking checks passed; "
        "a model identical in data, code and run config to a registered version is not "
        "registered again."
    ),
)
def registered_model_version(
    context: dg.AssetExecutionContext,
    config: RegistrationConfig,
    mlflow_tracking: MlflowResource,
    thresholds: ModelThresholds,
    model: dict[str, Any],
    model_metrics: dict[str, float],
    test_set: StoredVersion,
) -> dict[str, Any]:
    results = blocking_check_results(context)
    failed_checks = [name for name, summary in results.items() if summary is None]
    tags = {
        "dagster.run_id": context.run.run_id,
        **lineage_tags(model, test_set),
        "metrics": json.dumps(model_metrics, sort_keys=True),
        "thresholds": thresholds.model_dump_json(),
        "validation": "passed" if not failed_checks else f"not passed: {failed_checks}",
    }
    name = mlflow_tracking.registered_model_name
    with mlflow_tracking.outage_retries(context):
        client = mlflow_tracking.client()
        same = (
            None
            if config.force_new_version
            else identical_version(client, name, tags[LINEAGE_KEY_TAG])
        )
        # A version of this very model (an earlier, interrupted attempt of this run) is no
        # duplicate: register_once completes it.
        if same is not None and same.run_id != model["run_id"]:
            return _unchanged(context, mlflow_tracking, client, same, tags)
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
            reason = "; ".join(f"{check}: {summary}" for check, summary in results.items())
            promote(
                client,
                name,
                version,
                by=f"Dagster run {context.run.run_id}",
                user=acting_user(mlflow_tracking.tracking_uri),
                reason=f"blocking checks passed: {reason}",
            )
            outcome = f"registered version {version} and made it the champion"
        else:
            outcome = f"registered version {version}, not promoted: {failed_checks} not passed"
            context.log.warning(
                f"{name} version {version} registered but not promoted: "
                f"blocking checks not passed on the values it registers: {failed_checks}"
            )
        aliases = sorted(client.get_model_version(name, version).aliases)
        version_url = mlflow_tracking.model_version_url(version)
        events = alias_history.history(client, name)
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
            "outcome": outcome,
            "model_version": dg.MetadataValue.url(version_url),
            "source": model["model_uri"],
            "champion_history": dg.MetadataValue.md(alias_history.markdown(events)),
            **_lineage_metadata(tags),
        }
    )
    return registered


def _unchanged(context, mlflow_tracking, client, same, tags) -> dict[str, Any]:
    """Nothing changed since version `same`: say so; register nothing, move no alias."""
    name = mlflow_tracking.registered_model_name
    outcome = (
        f"nothing registered: version {same.version} was trained on the same data "
        f"({tags['training_frame_data_version']}), code ({tags['code_version'][:12]}) and "
        "run config (to register anyway: run config "
        "ops.registered_model_version.config.force_new_version: true)"
    )
    context.log.info(f"{name}: {outcome}")
    aliases = sorted(client.get_model_version(name, same.version).aliases)
    events = alias_history.history(client, name)
    registered = {
        "name": name,
        "version": str(same.version),
        "run_id": same.run_id,
        "model_uri": f"models:/{name}/{same.version}",
        "aliases": aliases,
        "promoted": False,
        "unchanged_since_version": str(same.version),
    }
    context.add_output_metadata(
        {
            **{key: str(value) for key, value in registered.items()},
            "outcome": outcome,
            "model_version": dg.MetadataValue.url(mlflow_tracking.model_version_url(same.version)),
            "champion_history": dg.MetadataValue.md(alias_history.markdown(events)),
            **_lineage_metadata(tags),
        }
    )
    return registered


def _lineage_metadata(tags: dict[str, str]) -> dict[str, Any]:
    """The lineage tags as UI metadata: JSON ones shown as JSON."""
    shown = {}
    for key, value in tags.items():
        if key.startswith(("data.", "feast.", "run_config", "libraries", "code_version")):
            try:
                shown[key] = dg.MetadataValue.json(json.loads(value))
            except ValueError:
                shown[key] = value
    return shown
