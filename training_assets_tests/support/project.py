"""A throw-away copy of the project: feature repo, sample data, local stores.

Every setting the pipeline reads from the environment points into the copy, so tests use
real Feast, MLflow and Dagster storage without touching the repository's own `var/`; the
latency limits are set out of reach, so no test's outcome depends on the machine's load.
"""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from training_assets.project import PROJECT_DIR
from training_assets.sample_data import SampleSize, write_sample_data

# What `make run` runs, as a user types it (tests run it in a child process).
BIN = Path(sys.executable).parent
MATERIALIZE = [
    str(BIN / "dagster"),
    "asset",
    "materialize",
    "--select",
    "*",
    "-m",
    "training_assets.definitions",
]

SMALL_SAMPLE = SampleSize(drivers=10, feature_rows=1_000, labels=400, seed=7)

# The latency check (`model_inference_latency`, WARN) times predictions, so on a loaded
# machine it may warn at its default limits. Out of reach here, every check's outcome in a
# test run is certain, and failed-check lists compare exactly; the check's own pass and warn
# paths are tested in checks/test_model_checks.py.
LATENCY_LIMITS_OUT_OF_REACH = {
    "MODEL_MAX_P95_MS_SINGLE_ROW": "1e9",
    "MODEL_MAX_P95_MS_1000_ROWS": "1e9",
}
# The small sample's test set has 80 rows; the champion check's default (200 rows neither
# model was trained on) is for real data. Its own too-few-rows failure is tested in
# checks/test_model_checks.py.
SMALL_SAMPLE_COMPARISON = {"MODEL_COMPARISON_MIN_ROWS": "20"}


@dataclass
class Project:
    root: Path

    @property
    def feature_repo(self) -> Path:
        return self.root / "feature_repo"

    @property
    def features_path(self) -> Path:
        return self.root / "data" / "driver_stats.parquet"

    @property
    def labels_path(self) -> Path:
        return self.root / "data" / "driver_orders.csv"

    @property
    def storage_dir(self) -> Path:
        return self.root / "var" / "assets"

    @property
    def mlflow_dir(self) -> Path:
        return self.root / "var" / "mlflow"

    @property
    def tracking_uri(self) -> str:
        return f"sqlite:///{self.mlflow_dir / 'mlflow.db'}"

    def stored(self, asset: str) -> Path | None:
        """The latest stored version of `asset` (what `defs.load_asset_value` loads), or None."""
        latest = self.storage_dir / asset / "LATEST"
        return latest.parent / latest.read_text().strip() if latest.is_file() else None

    def mlflow_client(self):
        from mlflow import MlflowClient

        # Explicit registry URI: MlflowClient otherwise takes the process-wide one.
        return MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)

    def env(self) -> dict[str, str]:
        return {
            "FEAST_REPO_PATH": str(self.feature_repo),
            "DRIVER_STATS_PATH": str(self.features_path),
            "TRAINING_LABELS_PATH": str(self.labels_path),
            "TRAINING_STATE_DIR": str(self.root / "var"),
            "TRAINING_STORAGE_DIR": str(self.storage_dir),
            "TRAINING_MLFLOW_DIR": str(self.mlflow_dir),
            "DAGSTER_HOME": str(self.root / "var" / "dagster_home"),
            **LATENCY_LIMITS_OUT_OF_REACH,
            **SMALL_SAMPLE_COMPARISON,
        }


def latest_value(resources: dict, asset: str):
    """The latest stored version of a Parquet asset, loaded, from the storage the resources
    (as `build_resources()` makes them) point at: what `defs.load_asset_value` returns."""
    import pandas as pd

    directory = Path(resources["parquet_io_manager"].base_dir, asset)
    return pd.read_parquet(directory / (directory / "LATEST").read_text().strip())


def copy_feature_repo(destination: Path) -> None:
    shutil.copytree(
        PROJECT_DIR / "feature_repo",
        destination,
        ignore=shutil.ignore_patterns("data", "__pycache__"),
    )


def new_project(root: Path, sample: SampleSize = SMALL_SAMPLE) -> Project:
    """A project copy under `root` with sample data of `sample`'s size."""
    project = Project(root)
    copy_feature_repo(project.feature_repo)
    write_sample_data(project.root / "data", sample)
    (project.root / "var" / "dagster_home").mkdir(parents=True)
    return project
