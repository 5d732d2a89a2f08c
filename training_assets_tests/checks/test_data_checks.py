import pandas as pd
import pytest

from training_assets.checks.data_checks import (
    training_frame_columns,
    training_frame_dtypes,
    training_frame_label_domain,
    training_frame_no_nulls,
)

REGISTRY = {
    "feature_views": {
        "driver_stats": {
            "features": {"conv_rate": "Float32", "acc_rate": "Float32", "avg_daily_trips": "Int32"}
        }
    }
}


@pytest.fixture
def good_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "event_timestamp": pd.to_datetime(["2026-01-01", "2026-01-02", "2026-01-03"], utc=True),
            "driver_id": pd.array([1, 2, 3], dtype="int64"),
            "trip_completed": pd.array([0, 1, 1], dtype="int64"),
            "conv_rate": pd.array([0.1, 0.5, 0.9], dtype="float32"),
            "acc_rate": pd.array([0.2, 0.6, 0.8], dtype="float32"),
            "avg_daily_trips": pd.array([10, 500, 900], dtype="int32"),
        }
    )


def test_good_frame_passes_every_check(good_frame):
    assert training_frame_columns(good_frame).passed
    assert training_frame_dtypes(good_frame, REGISTRY).passed
    assert training_frame_no_nulls(good_frame).passed
    assert training_frame_label_domain(good_frame).passed


def test_missing_and_unexpected_columns_are_named(good_frame):
    bad = good_frame.drop(columns="acc_rate").assign(leaky_column=1)
    result = training_frame_columns(bad)
    assert not result.passed
    assert result.metadata["missing_columns"].value == "acc_rate"
    assert result.metadata["unexpected_columns"].value == "leaky_column"


def test_dtypes_follow_the_feast_declaration(good_frame):
    registry = {
        "feature_views": {
            "driver_stats": {
                "features": {
                    **REGISTRY["feature_views"]["driver_stats"]["features"],
                    "avg_daily_trips": "Int64",
                }
            }
        }
    }
    result = training_frame_dtypes(good_frame, registry)
    assert not result.passed
    assert result.metadata["wrong_dtypes"].value == {"avg_daily_trips": "expected int64, got int32"}


def test_naive_timestamps_and_float_labels_fail_the_dtype_check(good_frame):
    bad = good_frame.assign(
        event_timestamp=good_frame.event_timestamp.dt.tz_localize(None),
        trip_completed=good_frame.trip_completed.astype("float64"),
    )
    wrong = training_frame_dtypes(bad, REGISTRY).metadata["wrong_dtypes"].value
    assert set(wrong) == {"event_timestamp", "trip_completed"}


def test_null_features_fail_and_name_the_drivers(good_frame):
    bad = good_frame.astype({"avg_daily_trips": "float64"})
    bad.loc[1, "avg_daily_trips"] = float("nan")
    result = training_frame_no_nulls(bad)
    assert not result.passed
    assert result.metadata["null_counts"].value["avg_daily_trips"] == 1
    assert result.metadata["drivers_without_features"].value == "2"


def test_labels_outside_0_1_fail_with_examples(good_frame):
    bad = good_frame.assign(trip_completed=[0, 2, 7])
    result = training_frame_label_domain(bad)
    assert not result.passed
    assert result.metadata["rows_outside_0_1"].value == 2
    assert result.metadata["example_values"].value == "2, 7"
