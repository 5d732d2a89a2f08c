"""Each training_frame check: the good frame passes, a crafted bad frame fails and says why.

Every test runs twice: with the frame checked by Great Expectations in pandas (frames up to
TRAINING_OUT_OF_CORE_ROWS rows) and by the same expectations evaluated in DuckDB over the
stored Parquet file (bigger frames): the same verdicts, figures and offending rows.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pandas as pd
import pytest

from training_assets.checks.data_checks import FRAME_CHECK_BY_NAME, frame_checks
from training_assets.io_managers.files import StoredVersion
from training_assets.resources.data_validation import DataValidationResource
from training_assets_tests.support.feature_source import registry_for

training_frame_schema = FRAME_CHECK_BY_NAME["training_frame_schema"]
training_frame_completeness = FRAME_CHECK_BY_NAME["training_frame_completeness"]
training_frame_label_domain = FRAME_CHECK_BY_NAME["training_frame_label_domain"]
training_frame_values = FRAME_CHECK_BY_NAME["training_frame_values"]
training_frame_volume = FRAME_CHECK_BY_NAME["training_frame_volume"]
training_frame_leakage = FRAME_CHECK_BY_NAME["training_frame_leakage"]
CHECKS = frame_checks


@pytest.fixture(params=["pandas", "duckdb", "duckdb-cached"])
def settings(request, tmp_path) -> DataValidationResource:
    """Check settings whose size limit sends every frame to one engine (DuckDB with and
    without the cache of the leakage proof's source index, as the pipeline runs it)."""
    out_of_core_rows = 10**9 if request.param == "pandas" else 0
    cache = str(tmp_path / "cache") if request.param == "duckdb-cached" else None
    return DataValidationResource(
        result_dir=str(tmp_path / "validation"),
        min_rows=3,
        out_of_core_rows=out_of_core_rows,
        cache_dir=cache,
    )


def run(check, frame: pd.DataFrame, registry, settings):
    """The check on the frame as the pipeline stores it: a Parquet version."""
    path = Path(settings.result_dir).parent / f"frame-{next(_numbers)}.parquet"
    frame.to_parquet(path, index=False)
    stored = StoredVersion("training_frame", path.stem, str(path))
    return check(training_frame=stored, feast_registry=registry, data_validation=settings)


_numbers = itertools.count()


def failed(result) -> list[dict]:
    return [e for e in result.metadata["expectation_results"].value if not e["passed"]]


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.check_key.name)
def test_good_frame_passes_and_the_gx_result_is_stored(check, good_frame, registry, settings):
    result = run(check, good_frame, registry, settings)
    assert result.passed, result.metadata["summary"].value
    listed = result.metadata["expectation_results"].value
    assert listed and all(e["passed"] and e["observed"] for e in listed)
    stored = json.loads(settings.result_path("training_frame", check.check_key.name).read_text())
    assert stored["success"] is True
    assert stored["gx_results"][0]["results"]  # the GX validation result itself
    assert str(settings.result_path("training_frame", check.check_key.name)) == (
        result.metadata["gx_result_path"].value
    )


def test_schema_names_missing_unexpected_columns_and_wrong_dtypes(good_frame, registry, settings):
    bad = good_frame.drop(columns="acc_rate").assign(leaky_column=1)
    bad["event_timestamp"] = bad["event_timestamp"].dt.tz_localize(None)
    result = run(training_frame_schema, bad, registry, settings)
    assert not result.passed
    by_column = {e["column"]: e for e in failed(result)}
    assert "unexpected: ['leaky_column']" in by_column["(table)"]["observed"]
    assert "missing: ['acc_rate']" in by_column["(table)"]["observed"]
    assert by_column["event_timestamp"]["observed"] == "datetime64[ns]"
    assert "could not be evaluated" in by_column["acc_rate"]["observed"]


def test_schema_dtypes_follow_the_feast_declaration(good_frame, registry, settings):
    registry["feature_views"]["driver_stats"]["features"]["avg_daily_trips"] = "Int64"
    result = run(training_frame_schema, good_frame, registry, settings)
    assert not result.passed
    [wrong] = failed(result)
    assert wrong["column"] == "avg_daily_trips"
    assert wrong["rule"] == "dtype int64 (Feast driver_stats declares Int64)"
    assert wrong["observed"] == "int32"


def test_completeness_names_drivers_and_time_range_without_features(good_frame, registry, settings):
    bad = good_frame.astype({"conv_rate": "float64", "acc_rate": "float64"})
    bad["avg_daily_trips"] = bad["avg_daily_trips"].astype("float64")
    bad.loc[1, ["conv_rate", "acc_rate", "avg_daily_trips"]] = float("nan")
    result = run(training_frame_completeness, bad, registry, settings)
    assert not result.passed
    assert {e["column"] for e in failed(result)} == {"conv_rate", "acc_rate", "avg_daily_trips"}
    assert result.metadata["label_rows_without_feature_row"].value == 1
    assert result.metadata["drivers_without_features"].value == "2"
    assert "2026-01-01 06:00:00+00:00" in result.metadata["time_range_without_features"].value
    assert "driver_id=2" in failed(result)[0]["examples"][0]


def test_label_domain_fails_with_the_offending_values(good_frame, registry, settings):
    bad = good_frame.assign(trip_completed=[0, 2, 7, 1])
    result = run(training_frame_label_domain, bad, registry, settings)
    assert not result.passed
    [wrong] = failed(result)
    assert wrong["column"] == "trip_completed"
    assert wrong["observed"] == "2 of 4 rows unexpected"
    assert wrong["examples"][0].startswith("trip_completed=2 at driver_id=2")
    assert "trip_completed=7" in wrong["examples"][1]
    assert "expect_column_values_to_be_in_set" in result.metadata["summary"].value


def test_values_out_of_range_fractional_trips_and_future_events_fail(
    good_frame, registry, settings
):
    bad = good_frame.astype({"avg_daily_trips": "float64"})
    bad.loc[0, "conv_rate"] = 1.5
    bad.loc[2, "avg_daily_trips"] = 2.5
    bad.loc[3, "event_timestamp"] = pd.Timestamp.now(tz="UTC") + pd.Timedelta(days=1)
    result = run(training_frame_values, bad, registry, settings)
    assert not result.passed
    wrong = {(e["column"], e["expectation"]): e for e in failed(result)}
    assert set(wrong) == {
        ("conv_rate", "expect_column_values_to_be_between"),
        ("avg_daily_trips, avg_daily_trips__rounded", "expect_column_pair_values_to_be_equal"),
        ("event_timestamp", "expect_column_max_to_be_between"),
    }
    assert wrong[("conv_rate", "expect_column_values_to_be_between")]["examples"] == [
        "conv_rate=1.5 at driver_id=1, event_timestamp=2026-01-01T06:00:00+00:00"
    ]
    trips = wrong[
        ("avg_daily_trips, avg_daily_trips__rounded", "expect_column_pair_values_to_be_equal")
    ]
    assert "avg_daily_trips=2.5" in trips["examples"][0]


def test_negative_trips_fail(good_frame, registry, settings):
    bad = good_frame.assign(avg_daily_trips=pd.array([10, -1, 900, 35], dtype="int32"))
    [wrong] = failed(run(training_frame_values, bad, registry, settings))
    assert wrong["column"] == "avg_daily_trips" and "avg_daily_trips=-1" in wrong["examples"][0]


def test_volume_needs_min_rows_and_both_classes(good_frame, registry, settings):
    strict = DataValidationResource(
        result_dir=settings.result_dir, min_rows=10, out_of_core_rows=settings.out_of_core_rows
    )
    few = run(training_frame_volume, good_frame, registry, strict)
    assert not few.passed
    [wrong] = failed(few)
    assert wrong["expectation"] == "expect_table_row_count_to_be_between"
    assert wrong["observed"] == "4"

    one_class = run(training_frame_volume, good_frame.assign(trip_completed=1), registry, settings)
    assert not one_class.passed
    [wrong] = failed(one_class)
    assert wrong["observed"] == "missing [0]"
    assert one_class.metadata["class_counts"].value == {"1": 4}


def test_leakage_catches_a_feature_observed_after_the_event(good_frame, registry, settings):
    bad = good_frame.copy()
    # Driver 2's order at 06:00 gets the values its feature row of the next day holds.
    bad.loc[1, ["conv_rate", "acc_rate", "avg_daily_trips"]] = [0.55, 0.65, 550]
    bad = bad.astype({"conv_rate": "float32", "acc_rate": "float32", "avg_daily_trips": "int32"})
    result = run(training_frame_leakage, bad, registry, settings)
    assert not result.passed
    assert {e["column"] for e in failed(result)} == {
        "conv_rate, conv_rate__as_of",
        "acc_rate, acc_rate__as_of",
        "avg_daily_trips, avg_daily_trips__as_of",
    }
    assert result.metadata["rows_differing_from_as_of"].value == 1
    explanation = result.metadata["explanations"].value
    assert "driver 2 at 2026-01-01T06:00:00+00:00" in explanation
    assert "observed at 2026-01-02T00:00:00+00:00, 0 days 18:00:00 AFTER the event: leakage" in (
        explanation
    )


def test_leakage_honours_the_created_tie_break_and_the_ttl(good_frame, source_path, settings):
    stale = good_frame.copy()
    stale.loc[3, ["conv_rate", "acc_rate", "avg_daily_trips"]] = [0.3, 0.4, 30]  # older created
    stale = stale.astype(
        {"conv_rate": "float32", "acc_rate": "float32", "avg_daily_trips": "int32"}
    )
    result = run(training_frame_leakage, stale, registry_for(source_path), settings)
    assert not result.passed
    assert result.metadata["rows_differing_from_as_of"].value == 1

    # With a 2 h ttl, the 00:00 rows are too old for the 06:00 and 07:00 orders: the frame
    # should have had nulls there, so its values are flagged.
    short_ttl = registry_for(source_path, ttl_seconds=2 * 3600)
    result = run(training_frame_leakage, good_frame, short_ttl, settings)
    assert not result.passed
    assert result.metadata["rows_differing_from_as_of"].value == 3
    assert "no row at or before the event within the ttl" in result.metadata["explanations"].value


def test_leakage_flags_values_that_are_not_in_the_source(good_frame, registry, settings):
    bad = good_frame.assign(conv_rate=pd.array([0.1, 0.5, 0.9, 0.123], dtype="float32"))
    result = run(training_frame_leakage, bad, registry, settings)
    assert not result.passed
    assert "not in the source for this driver" in result.metadata["explanations"].value


def test_leakage_reports_a_missing_feature_source(good_frame, tmp_path, settings):
    result = run(
        training_frame_leakage, good_frame, registry_for(tmp_path / "nope.parquet"), settings
    )
    assert not result.passed
    assert "nope.parquet" in result.metadata["error"].value
