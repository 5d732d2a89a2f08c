"""The code location: every asset, check, resource and job of the training pipeline.

`defs` is a plain `Definitions` object so `defs.load_asset_value("model_metrics")` works.
Settings come from environment variables with defaults under the repository (README,
"Settings"); nothing here imports Feast or MLflow, which keeps the code location quick to load.
"""

import os
from pathlib import Path

import dagster as dg

from training_assets.assets import features, model, registry, splits
from training_assets.checks import data_checks, model_checks
from training_assets.io_managers.files import JsonIOManager, ParquetIOManager
from training_assets.jobs import training_job
from training_assets.project import path_setting, setting
from training_assets.resources.feast_store import FeastResource
from training_assets.resources.labels import LabelsResource
from training_assets.resources.mlflow_tracking import MlflowResource
from training_assets.resources.thresholds import ModelThresholds


def build_resources() -> dict[str, object]:
    """Resources from the environment, each defaulting to a path inside the repository."""
    storage_dir = path_setting("TRAINING_STORAGE_DIR", "var/assets")
    mlflow_dir = Path(path_setting("TRAINING_MLFLOW_DIR", "var/mlflow"))
    tracking_uri = setting("MLFLOW_TRACKING_URI", f"sqlite:///{mlflow_dir / 'mlflow.db'}")
    # A tracking server chooses where artifacts go (with `--serve-artifacts`, uploads through
    # itself); a local file default would leave them on the client, e.g. in a run container.
    on_server = tracking_uri.startswith(("http://", "https://"))
    artifact_default = None if on_server else (mlflow_dir / "artifacts").as_uri()
    return {
        "parquet_io_manager": ParquetIOManager(base_dir=storage_dir),
        "json_io_manager": JsonIOManager(base_dir=storage_dir),
        "feast": FeastResource(repo_path=path_setting("FEAST_REPO_PATH", "feature_repo")),
        "labels": LabelsResource(
            path=path_setting("TRAINING_LABELS_PATH", "data/driver_orders.csv")
        ),
        "mlflow_tracking": MlflowResource(
            tracking_uri=tracking_uri,
            artifact_location=os.environ.get("MLFLOW_ARTIFACT_LOCATION") or artifact_default,
            experiment_name=setting("MLFLOW_EXPERIMENT_NAME", "elastic-net"),
            registered_model_name=setting(
                "MLFLOW_REGISTERED_MODEL_NAME", "sklearn-elastic-net-reg"
            ),
        ),
        "thresholds": ModelThresholds(
            max_rmse=float(setting("MODEL_MAX_RMSE", "0.2")),
            max_mae=float(setting("MODEL_MAX_MAE", "0.2")),
        ),
    }


defs = dg.Definitions(
    assets=dg.load_assets_from_modules([features, splits, model, registry]),
    asset_checks=dg.load_asset_checks_from_modules([data_checks, model_checks]),
    jobs=[training_job],
    resources=build_resources(),
    # One process per run: Feast and MLflow are imported once, not once per step.
    executor=dg.in_process_executor,
)
