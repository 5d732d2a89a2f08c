"""Adversarial point-in-time data for the Spark tests, and the frames to compare against.

Feature timestamps sit on a coarse half-hour grid, so one driver often has several rows at
the same time, each with a distinct `created`, plus copies with a null `created` (which must
lose) and rows alone at their time with a null `created` (which must win). Some feature
values are null; one feature comes from a differently named file column (`field_mapping`).
Labels repeat exactly, fall before a driver's first row, sit exactly on feature timestamps
and on the ttl boundary, or name drivers without any feature row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from training_assets.feast_offline_store.asof_join import FeatureViewSpec
from training_assets.sample_data import write_labels_csv
from training_assets.schema import (
    FEATURE_TIMESTAMP,
    FEATURES,
    TRAINING_FRAME_COLUMNS,
    TRAINING_FRAME_SORT_KEYS,
)

T0 = datetime(2026, 3, 1, tzinfo=UTC)
TTL = timedelta(hours=6)
MINUTE_US = 60_000_000


@dataclass(frozen=True)
class Case:
    features_path: Path
    labels_path: Path
    spec: FeatureViewSpec

    @property
    def plan(self) -> dict:
        """What `feast_registry` records for the DuckDB path (a plain dict)."""
        return self.spec.to_dict()


def _times(minutes: np.ndarray) -> pa.Array:
    start = int(T0.timestamp() * 1_000_000)
    return pa.array(start + minutes.astype(np.int64) * MINUTE_US, pa.timestamp("us", tz="UTC"))


def _with_nulls(rng: np.random.Generator, values: np.ndarray, kind, share: float) -> pa.Array:
    return pa.array(values, kind, mask=rng.random(len(values)) < share)


def write_case(
    directory: Path,
    seed: int,
    drivers: int,
    feature_rows: int,
    labels: int,
    null_created: bool = True,
    null_values: bool = True,
) -> Case:
    """Write `driver_stats.parquet` and `driver_orders.csv` into `directory`."""
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    driver = rng.integers(1, drivers + 1, feature_rows)
    minutes = rng.integers(0, 96, feature_rows) * 30
    # Distinct `created` everywhere: rows equal on (driver, datetime, created) would be
    # interchangeable (any of them is right), which no exact comparison can check.
    created = minutes + 1 + rng.permutation(feature_rows)
    share = 0.03 if null_values else 0.0
    columns = {
        "driver_id": pa.array(driver, pa.int64()),
        "datetime": _times(minutes),
        "created": _times(created),
        "conv_rate": _with_nulls(rng, rng.random(feature_rows), pa.float32(), share),
        "acc_rate": _with_nulls(rng, rng.random(feature_rows), pa.float32(), share),
        # Named differently in the file: the plan's field_mapping renames it.
        "trips_raw": _with_nulls(rng, rng.integers(0, 1000, feature_rows), pa.int32(), share),
    }
    table = pa.table(columns)
    if null_created:
        # Copies of 5% of the rows at the same (driver, datetime) with a null `created` and
        # other values: a row with a `created` always wins over them.
        picked = table.take(rng.choice(feature_rows, feature_rows // 20, replace=False))
        picked = picked.set_column(2, "created", pa.nulls(len(picked), pa.timestamp("us", "UTC")))
        picked = picked.set_column(
            3, "conv_rate", pa.array(rng.random(len(picked)) + 5, pa.float32())
        )
        # And rows alone at their (driver, datetime), a quarter hour off the grid, with a
        # null `created`: nothing to tie with, so they must be picked like any other row.
        lone = min(feature_rows // 20, drivers * 96)
        slots = rng.choice(drivers * 96, lone, replace=False)
        alone = pa.table(
            {
                "driver_id": pa.array(slots % drivers + 1, pa.int64()),
                "datetime": _times((slots // drivers) * 30 + 15),
                "created": pa.nulls(lone, pa.timestamp("us", "UTC")),
                "conv_rate": pa.array(rng.random(lone), pa.float32()),
                "acc_rate": pa.array(rng.random(lone), pa.float32()),
                "trips_raw": pa.array(rng.integers(0, 1000, lone), pa.int32()),
            }
        )
        table = pa.concat_tables([table, picked, alone])
    table = table.take(rng.permutation(len(table)))
    features_path = directory / "driver_stats.parquet"
    pq.write_table(table, features_path, row_group_size=max(len(table) // 4, 1))

    # Labels: half-hour grid (hits feature times and the 6 h ttl boundary) plus odd minutes,
    # from before the first feature row to far past the last; two unknown drivers.
    label_minutes = np.where(
        rng.random(labels) < 0.6,
        rng.integers(-4, 120, labels) * 30,
        rng.integers(-120, 60 * 60, labels),
    )
    frame = pd.DataFrame(
        {
            "event_timestamp": _times(label_minutes).to_pandas(),
            "driver_id": rng.integers(1, drivers + 3, labels).astype("int64"),
            "trip_completed": rng.integers(0, 2, labels).astype("int64"),
        }
    )
    frame = pd.concat([frame, frame.sample(n=labels // 10, random_state=seed)], ignore_index=True)
    labels_path = directory / "driver_orders.csv"
    write_labels_csv(pa.Table.from_pandas(frame, preserve_index=False), labels_path)

    spec = FeatureViewSpec(
        name="driver_stats",
        path=str(features_path),
        timestamp_field="datetime",
        created_timestamp_column="created",
        ttl_microseconds=int(TTL.total_seconds() * 1_000_000),
        join_keys=(("driver_id", "driver_id"),),
        features=tuple((name, name) for name in FEATURES),
        field_mapping=(("trips_raw", "avg_daily_trips"),),
    )
    return Case(features_path, labels_path, spec)


def duckdb_frame(case: Case) -> pd.DataFrame:
    """The training frame as the pipeline builds it: labels read by LabelsResource, joined
    and typed by `training_frame`'s DuckDB path."""
    from training_assets.domain.training_frame import asof_frame
    from training_assets.resources.labels import LabelsResource
    from training_assets.spark.asof_join import DECLARED_TYPES

    labels = LabelsResource(path=str(case.labels_path)).read_arrow()
    return asof_frame(labels, case.plan, {}, DECLARED_TYPES).to_pandas()


def reference_frame(case: Case) -> pd.DataFrame:
    """Brute force: for each label row, filter that driver's rows by time and ttl, pick the
    latest (datetime, created) with a null `created` losing. Slow: small cases only."""
    labels = pd.read_csv(case.labels_path, sep="\t")
    labels["event_timestamp"] = pd.to_datetime(labels["event_timestamp"], utc=True)
    features = pd.read_parquet(case.features_path).rename(columns={"trips_raw": "avg_daily_trips"})
    by_driver = {key: group for key, group in features.groupby("driver_id")}
    rows = []
    for label in labels.itertuples(index=False):
        row = {
            "event_timestamp": label.event_timestamp,
            "driver_id": label.driver_id,
            "trip_completed": label.trip_completed,
        }
        group = by_driver.get(label.driver_id)
        before = group[group.datetime <= label.event_timestamp] if group is not None else None
        if before is not None and len(before):
            top = before[before.datetime == before.datetime.max()]
            # Among equal timestamps the latest `created`; a null `created` loses.
            with_created = top[top.created.notna()]
            latest = (with_created if len(with_created) else top).sort_values("created").iloc[-1]
            fresh = latest.datetime >= label.event_timestamp - TTL
        else:
            fresh = False
        if fresh:
            row |= {name: float(latest[name]) for name in FEATURES}
            row[FEATURE_TIMESTAMP] = latest.datetime
        else:
            row |= dict.fromkeys(FEATURES, np.nan)
            row[FEATURE_TIMESTAMP] = pd.NaT
        rows.append(row)
    frame = pd.DataFrame(rows, columns=list(TRAINING_FRAME_COLUMNS))
    frame[FEATURE_TIMESTAMP] = pd.to_datetime(frame[FEATURE_TIMESTAMP], utc=True).astype(
        "datetime64[us, UTC]"
    )
    return frame.sort_values(list(TRAINING_FRAME_SORT_KEYS), kind="stable").reset_index(drop=True)


def assert_same_frame(ours: pd.DataFrame, expected: pd.DataFrame, exact_dtypes: bool) -> None:
    """Same columns, rows (in order) and values; dtypes too when `exact_dtypes`."""
    assert list(ours.columns) == list(TRAINING_FRAME_COLUMNS)
    assert len(ours) == len(expected)
    if exact_dtypes:
        pd.testing.assert_frame_equal(ours, expected, check_exact=True)
    else:
        as_float = {name: "float64" for name in FEATURES}
        pd.testing.assert_frame_equal(
            ours.astype(as_float), expected.astype(as_float), check_dtype=False, rtol=0, atol=1e-6
        )


def differing_rows(ours: pd.DataFrame, expected: pd.DataFrame) -> pd.DataFrame:
    """Rows (by position) where the two sorted frames differ, both sides side by side."""
    left = ours.reset_index(drop=True)
    right = expected.reset_index(drop=True)
    differs = pd.Series(False, index=left.index)
    for name in left.columns:
        a, b = left[name], right[name]
        differs |= ~((a == b) | (a.isna() & b.isna()))
    return left[differs].join(right[differs], rsuffix="_expected")
