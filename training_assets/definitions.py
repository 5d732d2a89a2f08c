"""The code location: every asset, check, resource and job of the training pipeline.

`defs` is a plain `Definitions` object so `defs.load_asset_value("model_metrics")` works.
Settings come from environment variables with defaults under the repository (README,
"Settings"); nothing here imports Feast or MLflow, which keeps the code location quick to load.
"""

import os
from pathlib import Path

import dagster as dg

from training_assets import automation
from training_assets.assets import features, model, registry, sources, splits
from training_assets.checks import data_checks, model_checks, split_checks
from training_assets.io_managers.files import JsonIOManager, ParquetIOManager
from training_assets.jobs import training_job
from training_assets.project import float_setting, int_setting, path_setting, setting
from training_assets.resources.data_validation import DataValidationSettings
from training_assets.resources.feast_store import FeastResource
from training_assets.resources.labels import LabelsResource
from training_assets.resources.mlflow_tracking import (
    MlflowResource,
    registered_model_name_setting,
    tracking_uri_without_credentials,
)
from training_assets.resources.source_files import FeatureSourceResource
from training_assets.resources.thresholds import ModelThresholds


def build_resources() -> dict[str, object]:
    """Resources from the environment, each defaulting to a path inside the repository."""
    storage_dir = path_setting("TRAINING_STORAGE_DIR", "var/assets")
    mlflow_dir = Path(path_setting("TRAINING_MLFLOW_DIR", "var/mlflow"))
    # `http://user:password@host` works, but the credentials go to MLflow's own variables
    # (MLFLOW_TRACKING_USERNAME/PASSWORD) and never into the resource, logs or metadata.
    tracking_uri = tracking_uri_without_credentials(
        setting("MLFLOW_TRACKING_URI", f"sqlite:///{mlflow_dir / 'mlflow.db'}")
    )
    # A tracking server chooses where artifacts go (with `--serve-artifacts`, uploads through
    # itself); a local file default would leave them on the client, e.g. in a run container.
    on_server = tracking_uri.startswith(("http://", "https://"))
    artifact_default = None if on_server else (mlflow_dir / "artifacts").as_uri()
    return {
        "parquet_io_manager": ParquetIOManager(base_dir=storage_dir),
        "json_io_manager": JsonIOManager(base_dir=storage_dir),
        "feast": FeastResource(
            repo_path=path_setting("FEAST_REPO_PATH", "feature_repo"),
            always_apply=setting("FEAST_ALWAYS_APPLY", "0").lower() in ("1", "true", "yes"),
        ),
        "feature_source": FeatureSourceResource(
            path=path_setting("DRIVER_STATS_PATH", "data/driver_stats.parquet")
        ),
        "labels": LabelsResource(
            path=path_setting("TRAINING_LABELS_PATH", "data/driver_orders.csv")
        ),
        "mlflow_tracking": MlflowResource(
            tracking_uri=tracking_uri,
            artifact_location=os.environ.get("MLFLOW_ARTIFACT_LOCATION") or artifact_default,
            experiment_name=setting("MLFLOW_EXPERIMENT_NAME", "elastic-net"),
            registered_model_name=registered_model_name_setting(
                setting("MLFLOW_REGISTERED_MODEL_NAME", "sklearn-elastic-net-reg"),
                "MLFLOW_REGISTERED_MODEL_NAME",
            ),
            ui_url=setting("MLFLOW_UI_URL", "") or None,
            connect_attempts=int_setting("MLFLOW_CONNECT_ATTEMPTS", 3, at_least=1),
            step_retries=int_setting("MLFLOW_STEP_RETRIES", 2, at_least=0),
            retry_delay_seconds=float_setting("MLFLOW_RETRY_DELAY_SECONDS", 10, at_least=0),
        ),
        "data_validation": DataValidationSettings(
            result_dir=path_setting(
                "TRAINING_VALIDATION_DIR", str(Path(storage_dir, "validation"))
            ),
            min_rows=int_setting("DATA_MIN_ROWS", 100, at_least=1),
            drift_max_psi=float_setting("DATA_DRIFT_MAX_PSI", 0.2, above=0),
            drift_bins=int_setting("DATA_DRIFT_BINS", 10, at_least=2),
            max_examples=int_setting("DATA_VALIDATION_EXAMPLES", 5, at_least=1),
        ),
        "thresholds": ModelThresholds(
            max_rmse=float_setting("MODEL_MAX_RMSE", 0.2, above=0),
            max_mae=float_setting("MODEL_MAX_MAE", 0.2, above=0),
            champion_tolerance=float_setting("MODEL_CHAMPION_TOLERANCE", 0.01, at_least=0),
            max_p95_latency_ms_single_row=float_setting("MODEL_MAX_P95_MS_SINGLE_ROW", 50, above=0),
            max_p95_latency_ms_1000_rows=float_setting("MODEL_MAX_P95_MS_1000_ROWS", 200, above=0),
        ),
    }


def build_definitions(executor: dg.ExecutorDefinition = dg.in_process_executor) -> dg.Definitions:
    """The code location, with resources read from the environment at call time."""
    return dg.Definitions(
        assets=dg.load_assets_from_modules([sources, features, splits, model, registry]),
        asset_checks=dg.load_asset_checks_from_modules([data_checks, split_checks, model_checks]),
        jobs=[training_job],
        sensors=automation.sensors,
        schedules=automation.schedules,
        resources=build_resources(),
        # One process per run: Feast and MLflow are imported once, not once per step.
        executor=executor,
    )


defs = build_definitions()
