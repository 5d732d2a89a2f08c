"""The input checks of training_frame: each bad feature source is refused with its own message,
and a good one (including label rows that legitimately found no feature row) passes."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from training_assets.domain.input_checks import (
    FeatureSourceError,
    check_feature_source,
    check_joined_features,
)

DECLARED = {"conv_rate": "Float32", "acc_rate": "Float32", "avg_daily_trips": "Int32"}
WHEN = datetime(2026, 1, 1, tzinfo=UTC)


def source_table(**overrides: pa.Array) -> pa.Table:
    columns = {
        "driver_id": pa.array([1, 2], pa.int64()),
        "datetime": pa.array([WHEN, WHEN], pa.timestamp("us", tz="UTC")),
        "created": pa.array([WHEN, WHEN], pa.timestamp("us", tz="UTC")),
        "conv_rate": pa.array([0.5, 0.25], pa.float32()),
        "acc_rate": pa.array([0.5, 0.75], pa.float32()),
        "avg_daily_trips": pa.array([10, 20], pa.int32()),
    }
    columns.update(overrides)
    return pa.table(columns)


def plan_for(path) -> dict:
    return {
        "name": "driver_stats",
        "path": str(path),
        "join_keys": [["driver_id", "driver_id"]],
        "features": [[name, name] for name in DECLARED],
        "field_mapping": [],
    }


def written(tmp_path, table: pa.Table):
    path = tmp_path / "driver_stats.parquet"
    pq.write_table(table, path)
    return path


def test_a_good_source_passes(tmp_path):
    check_feature_source(plan_for(written(tmp_path, source_table())), DECLARED)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda tmp: tmp / "absent.parquet", "Feature source not found: {path}"),
        (
            lambda tmp: (tmp / "bad.parquet").write_text("not parquet") and tmp / "bad.parquet",
            "Feature source {path} is not a readable Parquet file",
        ),
        (
            lambda tmp: written(tmp, source_table().slice(0, 0)),
            "Feature source {path} has no rows.",
        ),
        (
            lambda tmp: written(tmp, source_table().drop_columns(["acc_rate"])),
            "Feature source {path} lacks column 'acc_rate' of feature view 'driver_stats'",
        ),
        (
            lambda tmp: written(tmp, source_table(conv_rate=pa.array(["0.5", "0.2"]))),
            "Feature source {path}, column 'conv_rate' is string, but feature view "
            "'driver_stats' declares it Float32.",
        ),
        (
            lambda tmp: written(tmp, source_table(avg_daily_trips=pa.array([1.5, 2.0]))),
            "column 'avg_daily_trips' is double, but feature view 'driver_stats' declares it Int32",
        ),
        (
            lambda tmp: written(tmp, source_table(driver_id=pa.array(["a", "b"]))),
            "column 'driver_id' is string",
        ),
    ],
)
def test_a_bad_source_is_refused_naming_the_file_and_the_problem(tmp_path, make, message):
    path = make(tmp_path)
    with pytest.raises(FeatureSourceError) as error:
        check_feature_source(plan_for(path), DECLARED)
    assert message.format(path=path) in str(error.value)


def joined(**features: list) -> pa.Table:
    rows = len(next(iter(features.values())))
    values = {
        "event_timestamp": pa.array([WHEN] * rows, pa.timestamp("us", tz="UTC")),
        "driver_id": pa.array(range(1, rows + 1), pa.int64()),
        "trip_completed": pa.array([1] * rows, pa.int64()),
        "conv_rate": pa.array([0.5] * rows, pa.float32()),
        "acc_rate": pa.array([0.5] * rows, pa.float32()),
        "avg_daily_trips": pa.array([3] * rows, pa.int32()),
    }
    values.update({name: pa.array(column) for name, column in features.items()})
    return pa.table(values)


def test_in_range_values_and_early_labels_of_known_drivers_pass(tmp_path):
    path = written(tmp_path, source_table())
    # Driver 2 is in the source; its label came before its first feature row: nulls.
    frame = joined(conv_rate=[0.5, None], acc_rate=[0.5, None], avg_daily_trips=[3, None])
    check_joined_features(frame, plan_for(path))


@pytest.mark.parametrize(
    ("features", "message"),
    [
        (
            {"conv_rate": [0.5, -0.5]},
            "column 'conv_rate': 1 label row(s) received values that are NaN or outside "
            "[0.0, 1.0], e.g. -0.5 (driver_id 2, label at 2026-01-01 00:00:00+00:00)",
        ),
        ({"acc_rate": [float("nan"), 0.5]}, "column 'acc_rate': 1 label row(s)"),
        ({"avg_daily_trips": [-1, 2]}, "column 'avg_daily_trips': 1 label row(s)"),
    ],
)
def test_bad_values_a_label_received_are_refused(tmp_path, features, message):
    path = written(tmp_path, source_table())
    with pytest.raises(FeatureSourceError) as error:
        check_joined_features(joined(**features), plan_for(path))
    assert f"Feature source {path}, {message}" in str(error.value)


def test_labels_of_a_driver_the_source_never_saw_are_refused(tmp_path):
    path = written(tmp_path, source_table())
    frame = joined(conv_rate=[0.5, None, None], acc_rate=[0.5, None, None])
    frame = frame.set_column(1, "driver_id", pa.array([1, 2, 99], pa.int64()))
    with pytest.raises(FeatureSourceError, match=r"driver_id \[99\] have no feature rows"):
        check_joined_features(frame, plan_for(path))
