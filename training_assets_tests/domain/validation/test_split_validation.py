"""The split checks on crafted splits, and the clear error when a frame cannot be split."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import train_test_split

from training_assets.domain.splitting import SplitError, check_splittable
from training_assets.domain.validation import split_validation as split_checks
from training_assets.io_managers.files import StoredVersion
from training_assets.resources.data_validation import DataValidationResource
from training_assets.schema import SPLIT_COLUMNS


@pytest.fixture
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    rows = 200
    result = pd.DataFrame(
        {
            "event_timestamp": pd.Timestamp("2026-01-01", tz="UTC")
            + pd.to_timedelta(rng.integers(0, 10_000, rows), unit="min"),
            "driver_id": rng.integers(1001, 1011, rows).astype("int64"),
            "conv_rate": rng.random(rows).astype("float32"),
            "acc_rate": rng.random(rows).astype("float32"),
            "avg_daily_trips": rng.integers(0, 900, rows).astype("int32"),
            "trip_completed": rng.integers(0, 2, rows).astype("int64"),
        }
    )
    result["feature_timestamp"] = result["event_timestamp"] - pd.Timedelta(minutes=5)
    # Two identical rows (e.g. a repeated order: same driver and time) are legitimate.
    result.loc[1] = result.loc[0]
    return result[list(SPLIT_COLUMNS)]


def split(frame: pd.DataFrame, test_size: float = 0.2):
    train, test = train_test_split(frame[list(SPLIT_COLUMNS)], test_size=test_size, random_state=17)
    return train.reset_index(drop=True), test.reset_index(drop=True)


def test_a_real_split_passes_every_check(frame, settings):
    train, test = split(frame)
    outcome, extra = split_checks.validate_partition(frame, train, test, settings)
    assert outcome.success and extra["distinct_rows"] == 199
    assert split_checks.validate_ratio(train, test, 0.2, settings).success
    assert split_checks.validate_classes("train_set", train, settings).success
    assert split_checks.validate_classes("test_set", test, settings).success


def test_a_row_in_both_sets_or_lost_fails_the_partition(frame, settings):
    train, test = split(frame)
    overlapping = pd.concat([train, test.head(1)], ignore_index=True)
    outcome, _ = split_checks.validate_partition(frame, overlapping, test, settings)
    assert not outcome.success
    [wrong] = outcome.failed
    assert wrong.observed == "1 of 199 rows unexpected"
    frame_count, split_count = re.search(
        r"rows_in_training_frame=(\d+), rows_in_train_and_test=(\d+)", wrong.examples[0]
    ).groups()
    assert int(split_count) == int(frame_count) + 1
    assert "rows_in_test_set=1" in wrong.examples[0]

    outcome, _ = split_checks.validate_partition(frame, train.iloc[1:], test, settings)
    assert not outcome.success


def test_sizes_must_match_the_test_size(frame, settings):
    train, test = split(frame, test_size=0.5)
    outcome = split_checks.validate_ratio(train, test, 0.2, settings)
    assert not outcome.success
    assert {o.observed for o in outcome.failed} == {"100"}
    assert split_checks.expected_test_rows(401, 0.2) == (80, 81)


def test_a_set_without_one_class_fails(frame, settings):
    _, test = split(frame)
    outcome = split_checks.validate_classes("test_set", test[test.trip_completed == 0], settings)
    assert not outcome.success
    assert outcome.failed[0].observed == "missing [1]"


def splittable(frame: pd.DataFrame, test_size: float = 0.2) -> None:
    check_splittable(len(frame), frame.trip_completed.value_counts().to_dict(), test_size)


def test_frames_that_cannot_be_split_get_a_clear_error(frame):
    splittable(frame)
    with pytest.raises(SplitError, match="has 1 row"):
        splittable(frame.head(1))
    single = pd.concat([frame[frame.trip_completed == 0], frame[frame.trip_completed == 1].head(1)])
    with pytest.raises(SplitError, match=r"class counts .*1: 1\}.*every class needs 2 rows"):
        splittable(single)
    with pytest.raises(SplitError, match="both classes"):
        splittable(frame.assign(trip_completed=0))


def test_the_split_index_gives_train_test_splits_rows_in_its_order(frame):
    """The frame is split by row numbers from ShuffleSplit: the same rows, in the same order,
    as `train_test_split(test_size=0.2, random_state=17)`, which the seed's pipeline used."""
    from training_assets.domain.splitting import split_frame, split_indices

    expected_train, expected_test = train_test_split(frame, test_size=0.2, random_state=17)
    train, test = split_indices(len(frame), 0.2, 17)
    assert train.tolist() == expected_train.index.tolist()
    assert test.tolist() == expected_test.index.tolist()
    ours_train, ours_test = split_frame(frame, 0.2, 17)
    pd.testing.assert_frame_equal(ours_train, expected_train.reset_index(drop=True))
    pd.testing.assert_frame_equal(ours_test, expected_test.reset_index(drop=True))


# ---- the same checks on stored versions, in pandas and in DuckDB --------------------------


@pytest.fixture(params=["pandas", "duckdb"])
def engine_settings(request, tmp_path) -> DataValidationResource:
    return DataValidationResource(
        result_dir=str(tmp_path / "validation"),
        out_of_core_rows=10**9 if request.param == "pandas" else 0,
    )


def stored(frame: pd.DataFrame, path: Path) -> StoredVersion:
    frame.to_parquet(path, index=False)
    return StoredVersion(path.stem, path.stem, str(path))


def test_stored_split_checks_pass_a_real_split_and_fail_a_broken_one(
    frame, engine_settings, tmp_path
):
    train, test = split(frame)
    versions = {
        name: stored(value, tmp_path / f"{name}.parquet")
        for name, value in (("frame", frame), ("train", train), ("test", test))
    }
    outcome, extra = split_checks.partition_of_stored(
        versions["frame"], versions["train"], versions["test"], engine_settings
    )
    assert outcome.success and extra["train_rows"] == len(train)
    ratio, train_rows, test_rows = split_checks.ratio_of_stored(
        versions["train"], versions["test"], 0.2, engine_settings
    )
    assert ratio.success and (train_rows, test_rows) == (len(train), len(test))
    classes, counts = split_checks.classes_of_stored("test_set", versions["test"], engine_settings)
    assert classes.success and set(counts) == {"0", "1"}

    # A row lost from train_set; a test set without class 1; sizes that are not 80/20.
    lost = stored(train.iloc[1:], tmp_path / "lost.parquet")
    outcome, _ = split_checks.partition_of_stored(
        versions["frame"], lost, versions["test"], engine_settings
    )
    assert not outcome.success
    one_class = stored(test[test.trip_completed == 0], tmp_path / "one_class.parquet")
    classes, _ = split_checks.classes_of_stored("test_set", one_class, engine_settings)
    assert not classes.success and classes.failed[0].observed == "missing [1]"
    ratio, _, _ = split_checks.ratio_of_stored(
        versions["train"], versions["test"], 0.5, engine_settings
    )
    assert not ratio.success
