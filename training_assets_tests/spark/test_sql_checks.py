"""The data checks' SQL run by Spark SQL on the cluster (the Spark profile's checks) against
the same SQL run by DuckDB: on every crafted frame that passes or fails a check, the same
verdicts, figures, messages, offending rows and stored records. Spark reads the frame as a
dataset of part files, as it stores frames (examples in the rows' order across the parts);
DuckDB the same rows in one file."""

from __future__ import annotations

import pytest

from training_assets_tests.support.frame_check_cases import (
    CASES,
    run_check,
    write_frame,
    write_source,
)

pytest.importorskip("pyspark")
pytestmark = [pytest.mark.slow, pytest.mark.spark]


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_spark_sql_checks_like_duckdb(case, spark, tmp_path):
    from training_assets.domain.validation.spark_sql_engine import SparkStoredFrame

    def on_spark(path: str) -> SparkStoredFrame:
        return SparkStoredFrame(spark, path)

    source = write_source(tmp_path / "driver_stats.parquet")
    frame = case.frame()
    single = write_frame(frame, tmp_path / "frame.parquet")
    parts = write_frame(frame, tmp_path / "dataset.parquet", parts=3)
    for check in case.checks:
        expected = run_check(check, single, source, case.ttl_seconds, tmp_path / "duckdb")
        ours = run_check(check, parts, source, case.ttl_seconds, tmp_path / "spark", on_spark)
        assert ours == expected, check
    # Nothing of the checks is left in the session.
    assert not [t for t in spark.catalog.listTables() if t.isTemporary]
