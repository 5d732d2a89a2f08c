"""Model stage: fit the ElasticNet, log it to MLflow, and evaluate it on the test set.

The `model` asset's value is a reference to the logged MLflow model (its URI and the MLflow
run), not the pickled estimator: MLflow is the model store, Dagster keeps the pointer.
"""

import base64
import tempfile
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd
import pyarrow.parquet as pq

from training_assets.assets import OWNERS
from training_assets.config import ElasticNetConfig
from training_assets.domain.evaluation_plots import evaluation_plots
from training_assets.domain.mlflow_logging import (
    load_pyfunc,
    log_dataset,
    log_feast_lineage,
    log_stored_dataset,
    pip_requirements,
)
from training_assets.domain.training import fit_elastic_net, fit_method
from training_assets.io_managers.files import StoredVersion
from training_assets.resources.mlflow_tracking import MlflowResource
from training_assets.resources.scale import ScaleResource
from training_assets.schema import FEATURES, TARGET

GROUP = "model"


@dg.asset(
    group_name=GROUP,
    io_manager_key="json_io_manager",
    kinds={"sklearn", "mlflow"},
    owners=OWNERS,
    description="ElasticNet fitted on train_set, logged to MLflow with signature and example.",
)
def model(
    context: dg.AssetExecutionContext,
    config: ElasticNetConfig,
    mlflow_tracking: MlflowResource,
    scale: ScaleResource,
    train_set: StoredVersion,
) -> dict[str, Any]:
    import mlflow
    from mlflow.models import infer_signature

    rows = pq.read_metadata(train_set.path).num_rows
    method = fit_method(rows, scale.out_of_core_rows)
    estimator = fit_elastic_net(train_set.path, config.model_dump(), method)
    # What MLflow infers the signature and the dataset's schema from: the first rows.
    head = pq.ParquetFile(train_set.path).read_row_group(0).slice(0, 100).to_pandas()
    features = head[list(FEATURES)]
    with mlflow_tracking.outage_retries(context):
        mlflow_tracking.activate()
        run_id = mlflow_tracking.run_for_dagster_run(
            context.run.run_id, tags={"dagster.asset_key": context.asset_key.to_user_string()}
        )
        with mlflow.start_run(run_id=run_id):
            mlflow.log_params({**config.model_dump(), "train_rows": rows, "fit_method": method})
            log_stored_dataset(train_set, head, rows, "train_set", "training", TARGET)
            frame = train_set.lineage.get("derived_from") or {}
            if (frame.get("lineage") or {}).get("features"):
                log_feast_lineage(frame["lineage"]["features"])
            model_info = mlflow.sklearn.log_model(
                sk_model=estimator,
                name="model",
                signature=infer_signature(features, estimator.predict(features)),
                input_example=features.head(5),
                pip_requirements=pip_requirements(),
            )
        run_url = mlflow_tracking.run_url(run_id)
    coefficients = dict(zip(FEATURES, map(float, estimator.coef_), strict=True))
    context.add_output_metadata(
        {
            "mlflow_run_id": run_id,
            "mlflow_run": dg.MetadataValue.url(run_url),
            "model_uri": model_info.model_uri,
            "mlflow_model": dg.MetadataValue.url(
                mlflow_tracking.logged_model_url(model_info.model_id)
            ),
            "train_rows": rows,
            "fit_method": method,
            "params": dg.MetadataValue.json(config.model_dump()),
            "coefficients": dg.MetadataValue.json(coefficients),
            "intercept": float(estimator.intercept_),
        }
    )
    return {
        "model_uri": model_info.model_uri,
        "model_id": model_info.model_id,
        "run_id": run_id,
        "experiment_name": mlflow_tracking.experiment_name,
        "params": config.model_dump(),
        # How it was fitted, so `make reproduce` refits the same way.
        "fit_method": method,
        # What it was trained on: the stored train_set version and, through its footer, the
        # training_frame version and the split's config.
        "train_set": train_set.as_dict(),
    }


@dg.asset(
    group_name=GROUP,
    io_manager_key="json_io_manager",
    kinds={"sklearn", "mlflow"},
    owners=OWNERS,
    description=(
        "RMSE and MAE of the model on test_set, with evaluation plots, logged to the "
        "model's MLflow run."
    ),
)
def model_metrics(
    context: dg.AssetExecutionContext,
    mlflow_tracking: MlflowResource,
    model: dict[str, Any],
    test_set: pd.DataFrame,
) -> dict[str, float]:
    import mlflow
    from sklearn.metrics import mean_absolute_error, root_mean_squared_error

    actual = test_set[TARGET].to_numpy()
    with mlflow_tracking.outage_retries(context):
        mlflow_tracking.activate()
        loaded = load_pyfunc(mlflow_tracking.tracking_uri, model["model_uri"])
        predictions = loaded.predict(test_set[list(FEATURES)])
        metrics = {
            "rmse": float(root_mean_squared_error(actual, predictions)),
            "mae": float(mean_absolute_error(actual, predictions)),
        }
        plots = evaluation_plots(actual, predictions)
        with mlflow.start_run(run_id=model["run_id"]):
            mlflow.log_metrics(metrics)
            log_dataset(test_set, "test_set", "evaluation", TARGET)
            with tempfile.TemporaryDirectory() as tmp:
                for name, png in plots.items():
                    Path(tmp, name).write_bytes(png)
                mlflow.log_artifacts(tmp, artifact_path="plots")
        run_url = mlflow_tracking.run_url(model["run_id"])
    context.add_output_metadata(
        {
            **metrics,
            "test_rows": len(test_set),
            "mlflow_run_id": model["run_id"],
            "mlflow_run": dg.MetadataValue.url(run_url),
            **{
                name.removesuffix(".png"): dg.MetadataValue.md(
                    f"![{name}](data:image/png;base64,{base64.b64encode(png).decode()})"
                )
                for name, png in plots.items()
            },
        }
    )
    return metrics
