"""The Spark point-in-time join on a real 2-worker cluster equals the DuckDB training frame
(`training_frame`'s own code path) and a brute-force as-of reference, on adversarial data;
and both workers' executors ran tasks of it."""

from __future__ import annotations

import time

import pandas as pd
import pyarrow.parquet as pq
import pytest

from training_assets.schema import FEATURES, TRAINING_FRAME_SORT_KEYS
from training_assets_tests.spark.data import (
    assert_same_frame,
    duckdb_frame,
    reference_frame,
    write_case,
)

pytest.importorskip("pyspark")
pytestmark = [pytest.mark.slow, pytest.mark.spark]


def _adversarial(frame: pd.DataFrame) -> None:
    """The cases the data is meant to hold are really in it."""
    assert frame.duplicated().any(), "duplicate label rows"
    missing = frame[list(FEATURES)].isna().all(axis=1)
    assert missing.any() and (~missing).any(), "labels with and without features"
    if len(frame) >= 500:
        # Feature values that are null in the source while the row was picked (3% of rows).
        assert (frame.conv_rate.isna() & frame.acc_rate.notna()).any()
    # Null-`created` copies carry conv_rate > 1: they must never win a tie.
    assert not (frame.conv_rate > 1).any()


@pytest.mark.parametrize(
    ("seed", "drivers", "feature_rows", "labels"),
    [(0, 3, 60, 80), (1, 12, 400, 300), (2, 40, 1500, 900), (3, 200, 3000, 2000)],
)
def test_equals_duckdb_and_reference(
    spark, spark_cluster, tmp_path, seed, drivers, feature_rows, labels
):
    from training_assets.spark.asof_join import read_frame, write_training_frame
    from training_assets.spark.executors import assert_workers_ran_tasks, completed_tasks_by_worker

    case = write_case(tmp_path / "data", seed, drivers, feature_rows, labels)
    before = completed_tasks_by_worker(spark, spark_cluster.state())
    written = write_training_frame(spark, case.labels_path, case.plan, tmp_path / "frame")
    ran = assert_workers_ran_tasks(spark, spark_cluster.state(), before)
    print(f"\n{written.rows} rows in {written.seconds:.1f} s; tasks per worker {ran}")

    ours = read_frame(written.path)
    duck = duckdb_frame(case)
    assert_same_frame(ours, duck, exact_dtypes=True)
    assert_same_frame(ours, reference_frame(case), exact_dtypes=False)
    _adversarial(ours)


def test_larger_case_equals_duckdb(spark, spark_cluster, tmp_path):
    """200k labels x ~220k feature rows over 2000 drivers (brute force is too slow here)."""
    from training_assets.spark.asof_join import read_frame, write_training_frame
    from training_assets.spark.executors import assert_workers_ran_tasks, completed_tasks_by_worker

    case = write_case(tmp_path / "data", 7, 2000, 200_000, 200_000)
    started = time.monotonic()
    duck = duckdb_frame(case)
    duck_seconds = time.monotonic() - started
    before = completed_tasks_by_worker(spark, spark_cluster.state())
    written = write_training_frame(spark, case.labels_path, case.plan, tmp_path / "frame")
    assert_workers_ran_tasks(spark, spark_cluster.state(), before)
    print(f"\nSpark {written.rows} rows in {written.seconds:.1f} s; DuckDB {duck_seconds:.1f} s")
    ours = read_frame(written.path)
    assert_same_frame(ours, duck, exact_dtypes=True)
    _adversarial(ours)


def test_written_by_executors_sorted_and_typed(spark, tmp_path):
    from training_assets.spark.asof_join import read_frame, write_training_frame

    case = write_case(tmp_path / "data", 5, 50, 2000, 3000)
    written = write_training_frame(spark, case.labels_path, case.plan, tmp_path / "frame")
    schema = pq.read_schema(next(written.path.glob("part-*.parquet")))
    assert [str(t) for t in schema.types] == [
        "timestamp[us, tz=UTC]",
        "int64",
        "int64",
        "float",
        "float",
        "int32",
        "timestamp[us, tz=UTC]",  # feature_timestamp, as DuckDB's TIMESTAMPTZ
    ]
    frame = read_frame(written.path)
    keys = frame[list(TRAINING_FRAME_SORT_KEYS)]
    assert keys.equals(keys.sort_values(list(TRAINING_FRAME_SORT_KEYS)).reset_index(drop=True))
    assert (written.path / "_SUCCESS").exists()
    # No staging directory is left behind; a second write never overwrites.
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    with pytest.raises(FileExistsError):
        write_training_frame(spark, case.labels_path, case.plan, written.path)


def test_labels_as_parquet_and_dataframe(spark, tmp_path):
    from training_assets.resources.labels import LabelsResource
    from training_assets.spark.asof_join import read_frame, write_training_frame

    case = write_case(tmp_path / "data", 6, 10, 300, 200)
    labels = LabelsResource(path=str(case.labels_path)).read_arrow()
    pq.write_table(labels, tmp_path / "labels.parquet")
    from_parquet = write_training_frame(
        spark, tmp_path / "labels.parquet", case.plan, tmp_path / "a"
    )
    from_frame = write_training_frame(
        spark, spark.read.parquet(str(tmp_path / "labels.parquet")), case.spec, tmp_path / "b"
    )
    duck = duckdb_frame(case)
    assert_same_frame(read_frame(from_parquet.path), duck, exact_dtypes=True)
    assert_same_frame(read_frame(from_frame.path), duck, exact_dtypes=True)
