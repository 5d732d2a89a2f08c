"""The fair comparison set and the paired bootstrap, against scipy's own bootstrap."""

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from scipy import stats

from training_assets.domain.comparison import MAX_UNITS, compare, decision, without_trained_rows

T0 = pd.Timestamp("2026-01-01", tz="UTC")


def rows(*identities) -> pd.DataFrame:
    return pd.DataFrame(
        [(T0 + pd.Timedelta(hours=h), driver, label) for h, driver, label in identities],
        columns=["event_timestamp", "driver_id", "trip_completed"],
    )


def test_trained_rows_are_excluded_with_duplicates_counted():
    test = rows((0, 1, 1), (0, 1, 1), (0, 1, 1), (1, 2, 0), (2, 3, 1))
    champion = rows((0, 1, 1), (5, 9, 0))  # one copy of (0, 1, 1)
    challenger = rows((0, 1, 1), (0, 1, 1), (1, 2, 0))  # two copies, and (1, 2, 0)
    kept, excluded = without_trained_rows(test, champion, challenger)
    # Of three test copies of (0, 1, 1), two match training copies (the larger count): one
    # stays; (1, 2, 0) was trained on; (2, 3, 1) never was.
    assert excluded == 3
    assert kept.index.tolist() == [2, 4]


def test_stored_train_sets_are_read_as_files_and_as_datasets(tmp_path):
    """The champion's train set stored as a file, the challenger's as a Parquet dataset of
    part files (the Spark profile's): the same exclusions as the frames give."""
    test = rows((0, 1, 1), (0, 1, 1), (0, 1, 1), (1, 2, 0), (2, 3, 1))
    champion = rows((0, 1, 1), (5, 9, 0))
    challenger = rows((0, 1, 1), (0, 1, 1), (1, 2, 0))
    champion.to_parquet(tmp_path / "champion.parquet", index=False)
    dataset = tmp_path / "challenger.parquet"
    dataset.mkdir()
    challenger.iloc[:2].to_parquet(dataset / "part-00000.parquet", index=False)
    challenger.iloc[2:].to_parquet(dataset / "part-00001.parquet", index=False)
    # What else a published dataset holds: Spark's marker and the lineage footer (no rows).
    (dataset / "_SUCCESS").write_text("")
    pq.write_metadata(pq.read_schema(dataset / "part-00000.parquet"), dataset / "_common_metadata")
    kept, excluded = without_trained_rows(test, tmp_path / "champion.parquet", dataset)
    assert excluded == 3
    assert kept.index.tolist() == [2, 4]


def test_a_label_that_differs_is_another_row():
    kept, excluded = without_trained_rows(rows((0, 1, 1)), rows((0, 1, 0)))
    assert (len(kept), excluded) == (1, 0)


def losses(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    actual = rng.integers(0, 2, n).astype(float)
    return actual, actual + rng.normal(0, 0.30, n), actual + rng.normal(0, 0.32, n)


def rmse_difference(champion_error, challenger_error, axis=-1):
    return np.sqrt(np.mean(challenger_error**2, axis=axis)) - np.sqrt(
        np.mean(champion_error**2, axis=axis)
    )


@pytest.mark.parametrize("n", [500, 50_000])
def test_the_interval_agrees_with_scipys_paired_bootstrap(n):
    """Row resampling up to MAX_UNITS rows, random blocks above: both match scipy's paired
    percentile bootstrap to within its own Monte Carlo spread."""
    actual, champion, challenger = losses(n)
    ours = compare(actual, champion, challenger, resamples=2000, confidence=0.95, seed=1)
    theirs = stats.bootstrap(
        (champion - actual, challenger - actual),
        rmse_difference,
        paired=True,
        vectorized=True,
        n_resamples=2000 if n <= MAX_UNITS else 400,
        batch=100,
        method="percentile",
        random_state=1,
    ).confidence_interval
    width = theirs.high - theirs.low
    assert ours.rmse_difference.low == pytest.approx(theirs.low, abs=0.1 * width)
    assert ours.rmse_difference.high == pytest.approx(theirs.high, abs=0.1 * width)
    assert ours.rmse_difference.point == pytest.approx(
        rmse_difference(champion - actual, challenger - actual)
    )


def test_the_same_data_and_seed_give_the_same_interval():
    actual, champion, challenger = losses(3000)
    first = compare(actual, champion, challenger, resamples=500, confidence=0.9, seed=7)
    again = compare(actual, champion, challenger, resamples=500, confidence=0.9, seed=7)
    assert first == again


def test_the_decision_reads_as_a_sentence():
    actual, champion, _ = losses(1000)
    same = compare(actual, champion, champion, resamples=200, confidence=0.95, seed=1)
    passed, sentence = decision(same, tolerance=0.0, excluded=12)
    assert passed
    assert sentence.startswith("Challenger RMSE ")
    assert "on 1,000 test rows neither model was trained on (12 excluded)" in sentence
    assert sentence.endswith(
        "its upper bound is at most the tolerance 0: not worse, with 95% confidence."
    )
