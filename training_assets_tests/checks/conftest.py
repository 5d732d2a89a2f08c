"""A tiny feature source, the Feast registry value that points at it, and frames built on it."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from training_assets.resources.data_validation import DataValidationSettings

DAY = pd.Timestamp("2026-01-01", tz="UTC")


def hours(value: float) -> pd.Timestamp:
    return DAY + pd.Timedelta(hours=value)


# driver_id, datetime, created, conv_rate, acc_rate, avg_daily_trips
SOURCE_ROWS = [
    (1, hours(0), hours(0.1), 0.1, 0.2, 10),
    (1, hours(12), hours(12.1), 0.3, 0.4, 30),
    (1, hours(12), hours(13), 0.35, 0.45, 35),  # same time, created later: this one wins
    (2, hours(0), hours(0.1), 0.5, 0.6, 500),
    (3, hours(0), hours(0.1), 0.9, 0.8, 900),
    (2, hours(24), hours(24.1), 0.55, 0.65, 550),  # a day after driver 2's order
]
# event_timestamp, driver_id, trip_completed, and the features as of that time
FRAME_ROWS = [
    (hours(6), 1, 0, 0.1, 0.2, 10),
    (hours(6), 2, 1, 0.5, 0.6, 500),
    (hours(7), 3, 0, 0.9, 0.8, 900),
    (hours(13), 1, 1, 0.35, 0.45, 35),
]


def registry_for(source_path: Path | str, ttl_seconds: float = 86400.0) -> dict:
    return {
        "project": "test",
        "entities": {"driver": {"join_key": "driver_id", "value_type": "INT64"}},
        "feature_views": {
            "driver_stats": {
                "entities": ["driver"],
                "features": {
                    "conv_rate": "Float32",
                    "acc_rate": "Float32",
                    "avg_daily_trips": "Int32",
                },
                "ttl_seconds": ttl_seconds,
                "source": str(source_path),
                "timestamp_field": "datetime",
                "created_timestamp_column": "created",
            }
        },
    }


@pytest.fixture
def source_path(tmp_path: Path) -> Path:
    frame = pd.DataFrame(
        SOURCE_ROWS,
        columns=["driver_id", "datetime", "created", "conv_rate", "acc_rate", "avg_daily_trips"],
    ).astype({"conv_rate": "float32", "acc_rate": "float32", "avg_daily_trips": "int32"})
    path = tmp_path / "driver_stats.parquet"
    frame.to_parquet(path, index=False)
    return path


@pytest.fixture
def registry(source_path: Path) -> dict:
    return registry_for(source_path)


@pytest.fixture
def settings(tmp_path: Path) -> DataValidationSettings:
    return DataValidationSettings(result_dir=str(tmp_path / "validation"), min_rows=3)


@pytest.fixture
def good_frame() -> pd.DataFrame:
    return pd.DataFrame(
        FRAME_ROWS,
        columns=[
            "event_timestamp",
            "driver_id",
            "trip_completed",
            "conv_rate",
            "acc_rate",
            "avg_daily_trips",
        ],
    ).astype(
        {
            "driver_id": "int64",
            "trip_completed": "int64",
            "conv_rate": "float32",
            "acc_rate": "float32",
            "avg_daily_trips": "int32",
        }
    )
