"""Registry stage: register the validated model in the MLflow Model Registry."""

from typing import Any

import dagster as dg

from training_assets.resources.mlflow_tracking import MlflowResource

GROUP = "registry"


@dg.asset(
    group_name=GROUP,
    io_manager_key="json_io_manager",
    kinds={"mlflow"},
    deps=["model_metrics"],
    description=(
        "The model as a new version of the registered model; only reached when the "
        "model_metrics checks passed."
    ),
)
def registered_model_version(
    context: dg.AssetExecutionContext, mlflow_tracking: MlflowResource, model: dict[str, Any]
) -> dict[str, Any]:
    import mlflow

    mlflow_tracking.activate()
    version = mlflow.register_model(
        model["model_uri"],
        mlflow_tracking.registered_model_name,
        tags={"dagster.run_id": context.run.run_id, "mlflow.run_id": model["run_id"]},
    )
    registered = {
        "name": version.name,
        "version": str(version.version),
        "run_id": model["run_id"],
        "model_uri": f"models:/{version.name}/{version.version}",
    }
    context.add_output_metadata({**registered, "source": model["model_uri"]})
    return registered
