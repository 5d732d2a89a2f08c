"""`model` and `model_metrics` on Spark (TRAINING_ENGINE=spark): the same assets as
`model.py`'s. The elastic net is fitted by Spark MLlib (`LinearRegression`, transformed to
solve scikit-learn's `ElasticNet` problem, `training_assets.spark.elastic_net`) and logged as
a scikit-learn `ElasticNet` carrying Spark's coefficients, so serving is unchanged
(`mlflow.pyfunc`, three feature columns in, one float out, no Spark); the test metrics are
aggregated by the executors, the plots drawn from a bounded sample."""

import base64
import tempfile
from pathlib import Path
from typing import Any

import dagster as dg

from training_assets.assets import OWNERS
from training_assets.config import ElasticNetConfig
from training_assets.domain.evaluation_plots import evaluation_plots
from training_assets.domain.mlflow_logging import (
    load_pyfunc,
    log_feast_lineage,
    pip_requirements,
    schema_sample,
)
from training_assets.domain.spark_model import (
    evaluate_on_spark,
    fit_on_spark,
    log_stored_dataset,
    plot_sample,
)
from training_assets.io_managers.files import StoredVersion
from training_assets.resources.mlflow_tracking import MlflowResource
from training_assets.resources.spark import SparkResource
from training_assets.schema import FEATURES, TARGET

GROUP = "model"  # the group of model.py's assets


@dg.asset(
    name="model",
    group_name=GROUP,
    io_manager_key="json_io_manager",
    kinds={"spark", "sklearn", "mlflow"},
    owners=OWNERS,
    ins={"train_set": dg.AssetIn(metadata={"load": "reference"})},
    description=(
        "ElasticNet fitted on train_set by Spark MLlib (scikit-learn's objective), logged to "
        "MLflow as a scikit-learn model with signature and example."
    ),
)
def model(
    context: dg.AssetExecutionContext,
    config: ElasticNetConfig,
    mlflow_tracking: MlflowResource,
    spark: SparkResource,
    train_set: StoredVersion,
) -> dict[str, Any]:
    import mlflow
    from mlflow.models import infer_signature

    session = spark.session()
    before = spark.executor_tasks()
    fitted = fit_on_spark(session.read.parquet(train_set.path), config.alpha, config.l1_ratio)
    estimator = fitted.fit.to_sklearn()
    features = fitted.sample[list(FEATURES)]
    tasks = spark.tasks_metadata(before)

    with mlflow_tracking.outage_retries(context):
        mlflow_tracking.activate()
        run_id = mlflow_tracking.run_for_dagster_run(
            context.run.run_id, tags={"dagster.asset_key": context.asset_key.to_user_string()}
        )
        with mlflow.start_run(run_id=run_id):
            mlflow.log_params({**config.model_dump(), "train_rows": fitted.rows, "engine": "spark"})
            log_stored_dataset(train_set, "train_set", "training", fitted.sample, fitted.rows)
            frame = train_set.lineage.get("derived_from") or {}
            if (frame.get("lineage") or {}).get("features"):
                log_feast_lineage(frame["lineage"]["features"])
            sample = schema_sample(features)
            model_info = mlflow.sklearn.log_model(
                sk_model=estimator,
                name="model",
                signature=infer_signature(sample, estimator.predict(sample)),
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
            "train_rows": fitted.rows,
            "params": dg.MetadataValue.json(config.model_dump()),
            "coefficients": dg.MetadataValue.json(coefficients),
            "intercept": float(estimator.intercept_),
            "spark_iterations": fitted.fit.iterations,
            "served_vs_spark_max_abs_diff": fitted.served_vs_spark,
            **tasks,
        }
    )
    return {
        "model_uri": model_info.model_uri,
        "model_id": model_info.model_id,
        "run_id": run_id,
        "experiment_name": mlflow_tracking.experiment_name,
        "params": config.model_dump(),
        # What it was trained on: the stored train_set version and, through its lineage, the
        # training_frame version and the split's config.
        "train_set": train_set.as_dict(),
    }


@dg.asset(
    name="model_metrics",
    group_name=GROUP,
    io_manager_key="json_io_manager",
    kinds={"spark", "sklearn", "mlflow"},
    owners=OWNERS,
    ins={"test_set": dg.AssetIn(metadata={"load": "reference"})},
    description=(
        "RMSE and MAE of the model on test_set, aggregated on Spark, with evaluation plots "
        "from a bounded sample, logged to the model's MLflow run."
    ),
)
def model_metrics(
    context: dg.AssetExecutionContext,
    mlflow_tracking: MlflowResource,
    spark: SparkResource,
    model: dict[str, Any],
    test_set: StoredVersion,
) -> dict[str, float]:
    import mlflow

    session = spark.session()
    before = spark.executor_tasks()
    with mlflow_tracking.outage_retries(context):
        mlflow_tracking.activate()
        # The logged (served) model's own coefficients: what is evaluated is what is served.
        served = load_pyfunc(mlflow_tracking.tracking_uri, model["model_uri"])
    estimator = served.get_raw_model()
    frame = session.read.parquet(test_set.path)
    evaluated = evaluate_on_spark(frame, estimator.coef_, float(estimator.intercept_))
    metrics = {"rmse": evaluated["rmse"], "mae": evaluated["mae"]}
    sample = plot_sample(frame, evaluated["rows"])
    plots = evaluation_plots(sample[TARGET].to_numpy(), served.predict(sample[list(FEATURES)]))
    tasks = spark.tasks_metadata(before)
    with mlflow_tracking.outage_retries(context):
        with mlflow.start_run(run_id=model["run_id"]):
            mlflow.log_metrics(metrics)
            log_stored_dataset(test_set, "test_set", "evaluation", sample, evaluated["rows"])
            with tempfile.TemporaryDirectory() as tmp:
                for name, png in plots.items():
                    Path(tmp, name).write_bytes(png)
                mlflow.log_artifacts(tmp, artifact_path="plots")
        run_url = mlflow_tracking.run_url(model["run_id"])
    context.add_output_metadata(
        {
            **metrics,
            "test_rows": evaluated["rows"],
            "plot_rows": len(sample),
            "mlflow_run_id": model["run_id"],
            "mlflow_run": dg.MetadataValue.url(run_url),
            **{
                name.removesuffix(".png"): dg.MetadataValue.md(
                    f"![{name}](data:image/png;base64,{base64.b64encode(png).decode()})"
                )
                for name, png in plots.items()
            },
            **tasks,
        }
    )
    return metrics
