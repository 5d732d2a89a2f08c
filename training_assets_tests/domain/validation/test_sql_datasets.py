"""The SQL checks on a stored version that is a Parquet dataset (part files, as the Spark
profile stores frames) give exactly what they give on the same rows in one file: verdicts,
figures, messages and offending rows, in the rows' order across the parts."""

from __future__ import annotations

import pytest

from training_assets_tests.support.frame_check_cases import (
    CASES,
    run_check,
    write_frame,
    write_source,
)


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_a_dataset_checks_like_the_file_of_its_rows(case, tmp_path):
    source = write_source(tmp_path / "driver_stats.parquet")
    frame = case.frame()
    single = write_frame(frame, tmp_path / "frame.parquet")
    parts = write_frame(frame, tmp_path / "dataset.parquet", parts=3)
    for check in case.checks:
        expected = run_check(check, single, source, case.ttl_seconds, tmp_path / "file")
        ours = run_check(check, parts, source, case.ttl_seconds, tmp_path / "dataset")
        assert ours == expected, check
