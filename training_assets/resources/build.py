"""The resources and IO managers of the pipeline, built from the settings.

Imported by the code location (`definitions.py`) and by the commands (`make champion`,
`make reproduce`, `make gc`), which need the MLflow store without loading every asset.
"""

from training_assets.io_managers.files import JsonIOManager, ParquetIOManager
from training_assets.resources.data_validation import DataValidationResource
from training_assets.resources.feast_store import FeastResource
from training_assets.resources.labels import LabelsResource
from training_assets.resources.mlflow_tracking import (
    MlflowResource,
    tracking_uri_without_credentials,
)
from training_assets.resources.scale import ScaleResource
from training_assets.resources.source_files import FeatureSourceResource
from training_assets.resources.spark import SparkResource
from training_assets.resources.thresholds import ModelThresholds
from training_assets.settings import (
    DataValidationSettings,
    InputSettings,
    MlflowSettings,
    ModelValidationSettings,
    ScaleSettings,
    SparkSettings,
    StorageSettings,
)


def build_resources() -> dict[str, object]:
    """Resources from the settings in the environment, read at call time."""
    inputs, storage, mlflow = InputSettings(), StorageSettings(), MlflowSettings()
    validation, thresholds = DataValidationSettings(), ModelValidationSettings()
    scale = ScaleSettings()
    spark = SparkSettings()
    # With TRAINING_ENGINE=spark the frames (Parquet) are versioned where every executor can
    # write them: SPARK_SHARED_DIR (by default the same storage).
    frames_dir = spark.shared_dir(storage) if spark.training_engine == "spark" else None
    # `http://user:password@host` works, but the credentials go to MLflow's own variables
    # (MLFLOW_TRACKING_USERNAME/PASSWORD) and never into the resource, logs or metadata.
    tracking_uri = tracking_uri_without_credentials(
        mlflow.mlflow_tracking_uri or f"sqlite:///{storage.mlflow_dir / 'mlflow.db'}"
    )
    # A tracking server chooses where artifacts go (with `--serve-artifacts`, uploads through
    # itself); a local file default would leave them on the client, e.g. in a run container.
    on_server = tracking_uri.startswith(("http://", "https://"))
    artifact_default = None if on_server else (storage.mlflow_dir / "artifacts").as_uri()
    return {
        "parquet_io_manager": ParquetIOManager(base_dir=str(frames_dir or storage.storage_dir)),
        "json_io_manager": JsonIOManager(base_dir=str(storage.storage_dir)),
        "feast": FeastResource(
            repo_path=str(inputs.feast_repo_path), always_apply=inputs.feast_always_apply
        ),
        "feature_source": FeatureSourceResource(path=str(inputs.driver_stats_path)),
        "labels": LabelsResource(path=str(inputs.training_labels_path)),
        "mlflow_tracking": MlflowResource(
            tracking_uri=tracking_uri,
            artifact_location=mlflow.mlflow_artifact_location or artifact_default,
            experiment_name=mlflow.mlflow_experiment_name,
            registered_model_name=mlflow.mlflow_registered_model_name,
            ui_url=mlflow.mlflow_ui_url,
            ui_port=mlflow.mlflow_ui_port,
            connect_attempts=mlflow.mlflow_connect_attempts,
            step_retries=mlflow.mlflow_step_retries,
            retry_delay_seconds=mlflow.mlflow_retry_delay_seconds,
            http_settings=mlflow.http_settings,
        ),
        "data_validation": DataValidationResource(
            result_dir=str(
                validation.training_validation_dir or storage.storage_dir / "validation"
            ),
            min_rows=validation.data_min_rows,
            drift_max_psi=validation.data_drift_max_psi,
            drift_bins=validation.data_drift_bins,
            max_examples=validation.data_validation_examples,
            out_of_core_rows=scale.training_out_of_core_rows,
            duckdb_memory_limit=scale.training_duckdb_memory_limit,
            cache_dir=str(storage.storage_dir / ".cache"),
        ),
        "scale": ScaleResource(
            out_of_core_rows=scale.training_out_of_core_rows,
            duckdb_memory_limit=scale.training_duckdb_memory_limit,
        ),
        # Started only by the Spark profile's assets, on first use in a run.
        "spark": SparkResource(
            master=spark.spark_master,
            driver_memory=spark.spark_driver_memory,
            driver_cores=spark.spark_driver_cores,
            executor_memory=spark.spark_executor_memory,
            executor_cores=spark.spark_executor_cores,
            cores_max=spark.spark_cores_max,
            shuffle_partitions=spark.spark_shuffle_partitions,
            shared_dir=str(spark.shared_dir(storage)),
        ),
        "thresholds": ModelThresholds(
            max_rmse=thresholds.model_max_rmse,
            max_mae=thresholds.model_max_mae,
            champion_tolerance=thresholds.model_champion_tolerance,
            comparison_min_rows=thresholds.model_comparison_min_rows,
            bootstrap_resamples=thresholds.model_bootstrap_resamples,
            confidence_level=thresholds.model_confidence_level,
            bootstrap_seed=thresholds.model_bootstrap_seed,
            max_p95_latency_ms_single_row=thresholds.model_max_p95_ms_single_row,
            max_p95_latency_ms_1000_rows=thresholds.model_max_p95_ms_1000_rows,
        ),
    }
