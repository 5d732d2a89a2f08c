"""Fixtures shared by the whole suite. Helpers live in `training_assets_tests/support/`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from training_assets.resources.data_validation import DataValidationResource
from training_assets_tests.support.feature_source import (
    good_frame as build_good_frame,
)
from training_assets_tests.support.feature_source import (
    registry_for,
    write_feature_source,
)
from training_assets_tests.support.isolation import isolated_process_state
from training_assets_tests.support.project import Project, new_project


@pytest.fixture(autouse=True)
def process_state_isolation() -> Iterator[None]:
    """Every test gives back os.environ exactly, MLflow's tracking and registry URIs, and the
    product's cached MLflow stores (support/isolation.py says what and why)."""
    with isolated_process_state():
        yield


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    """A project copy with small sample data, its settings exported to the environment."""
    project = new_project(tmp_path)
    for name, value in project.env().items():
        monkeypatch.setenv(name, value)
    for name in ("MLFLOW_TRACKING_URI", "MODEL_MAX_RMSE", "MODEL_MAX_MAE"):
        monkeypatch.delenv(name, raising=False)
    return project


@pytest.fixture
def source_path(tmp_path: Path) -> Path:
    return write_feature_source(tmp_path / "driver_stats.parquet")


@pytest.fixture
def registry(source_path: Path) -> dict:
    return registry_for(source_path)


@pytest.fixture
def settings(tmp_path: Path) -> DataValidationResource:
    return DataValidationResource(result_dir=str(tmp_path / "validation"), min_rows=3)


@pytest.fixture
def good_frame() -> pd.DataFrame:
    return build_good_frame()
