"""A tiny feature source, the Feast registry value that points at it, and a frame built on it.

Hand-picked rows whose as-of values are known: the data checks' tests (through conftest's
fixtures) and the validation benchmark use them.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from training_assets.schema import TRAINING_FRAME_COLUMNS

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
# ... and the feature row's time, which the join carries.
FRAME_ROWS = [
    (hours(6), 1, 0, 0.1, 0.2, 10, hours(0)),
    (hours(6), 2, 1, 0.5, 0.6, 500, hours(0)),
    (hours(7), 3, 0, 0.9, 0.8, 900, hours(0)),
    (hours(13), 1, 1, 0.35, 0.45, 35, hours(12)),
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


SOURCE_COLUMNS = ["driver_id", "datetime", "created", "conv_rate", "acc_rate", "avg_daily_trips"]
FEATURE_DTYPES = {"conv_rate": "float32", "acc_rate": "float32", "avg_daily_trips": "int32"}


def write_feature_source(path: Path) -> Path:
    frame = pd.DataFrame(SOURCE_ROWS, columns=SOURCE_COLUMNS).astype(FEATURE_DTYPES)
    frame.to_parquet(path, index=False)
    return path


def good_frame() -> pd.DataFrame:
    """FRAME_ROWS as a training frame with the dtypes the pipeline stores."""
    return pd.DataFrame(FRAME_ROWS, columns=list(TRAINING_FRAME_COLUMNS)).astype(
        {"driver_id": "int64", "trip_completed": "int64", **FEATURE_DTYPES}
    )
