"""Champion against challenger on fair data, with a paired bootstrap interval.

- The comparison set is the challenger's test set without any row that either model was
  trained on, matched on the row identity (event_timestamp, driver_id, trip_completed) with
  duplicates counted: a test row whose identity occurs k times in a training set loses k of
  its copies.
- The decision: a paired bootstrap of the per-row losses (squared error for RMSE, absolute
  error for MAE) gives an interval for challenger minus champion; the challenger passes when
  the upper bound of the RMSE difference's interval is at most the tolerance: "not worse,
  with that confidence".

The bootstrap resamples rows, or, above `MAX_UNITS` rows, random blocks of rows: with rows
independent, random blocks are independent too, and resampling them estimates the spread of
the sums the same way while costing resamples x blocks instead of resamples x rows
(2,000 x 1,000,000 draws would take longer than scoring the models many times over; with
2,000 blocks each holds ~500 of a million rows).
Checked against `scipy.stats.bootstrap(paired=True)` in the tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from training_assets.io_managers.files import parquet_source
from training_assets.schema import ENTITY_KEY, EVENT_TIMESTAMP, TARGET

IDENTITY = [EVENT_TIMESTAMP, ENTITY_KEY, TARGET]
MAX_UNITS = 2_000
_BATCH = 500  # resamples per vectorized batch: bounds memory at 500 x MAX_UNITS indices


def without_trained_rows(
    test: pd.DataFrame, *trained: pd.DataFrame | str | Path
) -> tuple[pd.DataFrame, int]:
    """The test rows neither model was trained on, and how many were excluded. A training
    set is a frame or a stored Parquet version, file or dataset (only its identity columns
    are read). Counted in
    DuckDB: a million test rows against two train sets of four million take about a second,
    where pandas' group-bys took ten."""
    import duckdb

    if not trained or test.empty:
        return test, 0
    ids = ", ".join(f'"{name}"' for name in IDENTITY)
    connection = duckdb.connect()
    try:
        connection.register(
            "test_rows", test[IDENTITY].assign(row_id=np.arange(len(test), dtype="int64"))
        )
        counted = []
        for number, source in enumerate(trained):
            if isinstance(source, pd.DataFrame):
                connection.register(f"trained_{number}", source[IDENTITY])
                relation = f"trained_{number}"
            else:
                # A file, or a Parquet dataset's part files (the Spark profile's sets).
                relation = "read_parquet('" + parquet_source(source).replace("'", "''") + "')"
            # Only identities the test set holds: a semi-join, then a small group-by.
            counted.append(
                f"SELECT {ids}, count(*) AS copies FROM {relation} "
                f"SEMI JOIN test_ids USING ({ids}) GROUP BY ALL"
            )
        # The window runs over test rows whose identity was trained on only.
        excluded = connection.execute(
            f"""
            WITH test_ids AS (SELECT DISTINCT {ids} FROM test_rows),
            trained AS (
                SELECT {ids}, max(copies) AS copies
                FROM ({" UNION ALL ".join(counted)}) GROUP BY ALL
            )
            SELECT row_id FROM (
                SELECT row_id, copies,
                       row_number() OVER (PARTITION BY {ids} ORDER BY row_id) AS ordinal
                FROM test_rows JOIN trained USING ({ids})
            ) WHERE ordinal <= copies
            """
        ).fetchnumpy()["row_id"]
    finally:
        connection.close()
    keep = np.ones(len(test), dtype=bool)
    keep[excluded] = False
    return test[keep], len(excluded)


@dataclass(frozen=True)
class Interval:
    point: float
    low: float
    high: float


@dataclass(frozen=True)
class Comparison:
    rows: int
    champion_rmse: float
    challenger_rmse: float
    champion_mae: float
    challenger_mae: float
    rmse_difference: Interval
    mae_difference: Interval
    confidence: float
    resamples: int


def _units(values: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Per-unit sums of the loss columns and per-unit row counts: rows, or random blocks."""
    n = len(values)
    if n <= MAX_UNITS:
        return values, np.ones(n)
    block = rng.integers(0, MAX_UNITS, n)
    sums = np.stack(
        [np.bincount(block, values[:, j], MAX_UNITS) for j in range(values.shape[1])], 1
    )
    return sums, np.bincount(block, minlength=MAX_UNITS).astype(float)


def compare(
    actual: np.ndarray,
    champion: np.ndarray,
    challenger: np.ndarray,
    *,
    resamples: int,
    confidence: float,
    seed: int,
) -> Comparison:
    """Point estimates and paired bootstrap intervals of challenger minus champion."""
    actual = np.asarray(actual, dtype="float64")
    errors = [np.asarray(p, dtype="float64") - actual for p in (champion, challenger)]
    # Columns: squared errors (champion, challenger), absolute errors (champion, challenger).
    losses = np.column_stack([e**2 for e in errors] + [np.abs(e) for e in errors])
    rng = np.random.default_rng(seed)
    sums, counts = _units(losses, rng)
    m = len(counts)
    stats = np.empty((resamples, 2))
    for start in range(0, resamples, _BATCH):
        draws = rng.integers(0, m, (min(_BATCH, resamples - start), m), dtype=np.int32)
        totals = sums[draws].sum(axis=1)  # (batch, 4)
        rows = counts[draws].sum(axis=1)[:, None]
        means = totals / rows
        stats[start : start + len(draws), 0] = np.sqrt(means[:, 1]) - np.sqrt(means[:, 0])
        stats[start : start + len(draws), 1] = means[:, 3] - means[:, 2]
    tail = (1 - confidence) / 2
    low, high = np.quantile(stats, [tail, 1 - tail], axis=0)
    mean = losses.mean(axis=0)
    rmse = np.sqrt(mean[:2])
    return Comparison(
        rows=len(actual),
        champion_rmse=float(rmse[0]),
        challenger_rmse=float(rmse[1]),
        champion_mae=float(mean[2]),
        challenger_mae=float(mean[3]),
        rmse_difference=Interval(float(rmse[1] - rmse[0]), float(low[0]), float(high[0])),
        mae_difference=Interval(float(mean[3] - mean[2]), float(low[1]), float(high[1])),
        confidence=confidence,
        resamples=resamples,
    )


def decision(result: Comparison, tolerance: float, excluded: int) -> tuple[bool, str]:
    """Whether the challenger passes, and why, in one sentence."""
    interval = result.rmse_difference
    level = f"{result.confidence:.0%}"
    passed = interval.high <= tolerance
    verdict = (
        f"its upper bound is at most the tolerance {tolerance:g}: not worse, with "
        f"{level} confidence"
        if passed
        else f"its upper bound is above the tolerance {tolerance:g}: not shown to be no worse "
        f"with {level} confidence, so it is not registered"
    )
    return passed, (
        f"Challenger RMSE {result.challenger_rmse:.4f} vs champion {result.champion_rmse:.4f} "
        f"on {result.rows:,} test rows neither model was trained on ({excluded:,} excluded): "
        f"difference {interval.point:+.4f}, {level} interval [{interval.low:+.4f}, "
        f"{interval.high:+.4f}]; {verdict}."
    )
