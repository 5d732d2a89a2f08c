"""An independent recomputation of each training row's features, for the leakage check.

The feature source that Feast reads (path, timestamp field, created column and ttl come from
the `feast_registry` value) is joined onto the frame's `(driver_id, event_timestamp)` rows
with a DuckDB ASOF join: for each row the driver's latest feature row at or before the event,
ties on the feature timestamp broken by the latest `created`, nothing older than the ttl.
If the frame holds any other value, it did not come from the past: either a later row leaked
in, or it came from nowhere. Mismatching rows are explained by looking up where the frame's
values do occur in the source.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from training_assets.schema import (
    AS_OF_SUFFIX,
    ENTITY_KEY,
    EVENT_TIMESTAMP,
    FEATURE_TIMESTAMP,
    FEATURE_VIEW,
    FEATURES,
)

if TYPE_CHECKING:
    import duckdb


@dataclass(frozen=True)
class FeatureSource:
    """Where the feature view's rows are and how Feast reads them."""

    path: str
    timestamp_field: str
    created_column: str | None
    ttl_seconds: float | None

    @classmethod
    def from_registry(cls, feast_registry: Mapping[str, Any]) -> FeatureSource:
        view = feast_registry["feature_views"][FEATURE_VIEW]
        return cls(
            path=str(view["source"]),
            timestamp_field=view.get("timestamp_field") or "event_timestamp",
            created_column=view.get("created_timestamp_column") or None,
            ttl_seconds=view.get("ttl_seconds") or None,
        )


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _connect(source: FeatureSource) -> duckdb.DuckDBPyConnection:
    import duckdb

    if not Path(source.path).exists() and not any(ch in source.path for ch in "*?["):
        raise FileNotFoundError(
            f"Feature source {source.path} of feature view {FEATURE_VIEW!r} not found "
            "(setting DRIVER_STATS_PATH, re-applied by feast_registry)."
        )
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    features = ", ".join(_quote(name) for name in FEATURES)
    path = source.path.replace("'", "''")
    connection.execute(
        f"CREATE TEMP VIEW source AS SELECT {_quote(ENTITY_KEY)}, "
        f"epoch_us({_quote(source.timestamp_field)}::TIMESTAMPTZ) AS {FEATURE_TIMESTAMP}, "
        + (
            f"epoch_us({_quote(source.created_column)}::TIMESTAMPTZ) AS created, "
            if source.created_column
            else "NULL::BIGINT AS created, "
        )
        + f"{features} FROM read_parquet('{path}')"
    )
    return connection


def _utc(values: pd.Series) -> pd.Series:
    values = pd.to_datetime(values)
    return values.dt.tz_localize("UTC") if values.dt.tz is None else values.dt.tz_convert("UTC")


def with_as_of_features(frame: pd.DataFrame, source: FeatureSource) -> pd.DataFrame:
    """The frame's keys and features, plus `<feature>__as_of` and `feature_timestamp`.

    Rows keep the frame's order. Naive event timestamps are taken as UTC, as Feast does.
    Timestamps go through DuckDB as epoch microseconds (integers join and convert faster).
    """
    event_times = _utc(frame[EVENT_TIMESTAMP]).reset_index(drop=True)
    keys = pd.DataFrame(
        {
            "row_id": np.arange(len(frame)),
            ENTITY_KEY: frame[ENTITY_KEY].to_numpy(),
            EVENT_TIMESTAMP: event_times.dt.as_unit("us").array.asi8,
        }
    )
    connection = _connect(source)
    try:
        connection.register("label_keys", keys)
        as_of_columns = ", ".join(
            f"f.{_quote(name)} AS {_quote(name + AS_OF_SUFFIX)}" for name in FEATURES
        )
        recomputed = connection.execute(
            f"""
            WITH latest AS (
                SELECT * FROM source
                QUALIFY row_number() OVER (
                    PARTITION BY {_quote(ENTITY_KEY)}, {FEATURE_TIMESTAMP}
                    ORDER BY created DESC NULLS LAST
                ) = 1
            )
            SELECT l.row_id, f.{FEATURE_TIMESTAMP}, {as_of_columns}
            FROM label_keys l ASOF LEFT JOIN latest f
              ON l.{_quote(ENTITY_KEY)} = f.{_quote(ENTITY_KEY)}
             AND l.{EVENT_TIMESTAMP} >= f.{FEATURE_TIMESTAMP}
            """
        ).df()
    finally:
        connection.close()
    result = frame[[EVENT_TIMESTAMP, ENTITY_KEY, *FEATURES]].reset_index(drop=True).copy()
    result[EVENT_TIMESTAMP] = event_times
    # Back to the frame's row order (cheaper than ORDER BY in DuckDB).
    order = np.empty(len(recomputed), dtype="int64")
    order[recomputed["row_id"].to_numpy()] = np.arange(len(recomputed))
    recomputed = recomputed.iloc[order].reset_index(drop=True)
    result[FEATURE_TIMESTAMP] = _utc_from_epoch_us(recomputed[FEATURE_TIMESTAMP])
    for name in FEATURES:
        result[name + AS_OF_SUFFIX] = recomputed[name + AS_OF_SUFFIX].astype("float64").to_numpy()
    if source.ttl_seconds:
        age = result[EVENT_TIMESTAMP] - result[FEATURE_TIMESTAMP]
        expired = age > pd.Timedelta(seconds=source.ttl_seconds)
        result.loc[expired, [FEATURE_TIMESTAMP, *(n + AS_OF_SUFFIX for n in FEATURES)]] = None
    return result


def _utc_from_epoch_us(values: pd.Series) -> pd.Series:
    """Epoch microseconds (float, NaN for none) as UTC timestamps: a reinterpretation of the
    integers, not `pd.to_datetime(unit=...)`'s float path (10x slower). Exact: epoch
    microseconds of these times are far below 2**53."""
    floats = values.to_numpy(dtype="float64")
    missing = np.isnan(floats)
    micros = np.where(missing, 0, floats).astype("int64")
    micros[missing] = np.iinfo("int64").min  # NaT
    return pd.Series(micros.view("datetime64[us]")).dt.tz_localize("UTC")


def mismatched_rows(recomputed: pd.DataFrame) -> pd.DataFrame:
    """Rows whose features differ from the as-of values (a null on one side counts)."""
    differs = pd.Series(False, index=recomputed.index)
    for name in FEATURES:
        frame_value = recomputed[name].astype("float64")
        as_of = recomputed[name + AS_OF_SUFFIX]
        both_null = frame_value.isna() & as_of.isna()
        differs |= ~both_null & ~(frame_value == as_of)
    return recomputed[differs]


def explain(mismatches: pd.DataFrame, source: FeatureSource, limit: int) -> list[str]:
    """For a few mismatching rows: when the source holds the frame's values, if at all."""
    if mismatches.empty:
        return []
    connection = _connect(source)
    lines = []
    try:
        for row in mismatches.head(limit).itertuples(index=False):
            row = row._asdict()
            values = {name: row[name] for name in FEATURES}
            event = pd.Timestamp(row[EVENT_TIMESTAMP])
            event = event.tz_localize("UTC") if event.tzinfo is None else event
            shown = ", ".join(f"{k}={_fmt(v)}" for k, v in values.items())
            as_of = ", ".join(f"{k}={_fmt(row[k + AS_OF_SUFFIX])}" for k in FEATURES)
            head = f"driver {row[ENTITY_KEY]} at {event.isoformat()}: frame has {shown}"
            if row[FEATURE_TIMESTAMP] is None or pd.isna(row[FEATURE_TIMESTAMP]):
                expected = "the source has no row at or before the event within the ttl"
            else:
                observed = pd.Timestamp(row[FEATURE_TIMESTAMP]).isoformat()
                expected = f"as of the event the source says {as_of} (observed {observed})"
            found = _where_values_occur(connection, row[ENTITY_KEY], values)
            if found is None:
                origin = "these values are not in the source for this driver"
            else:
                delta = found - event
                when = "AFTER" if delta > pd.Timedelta(0) else "before"
                origin = f"the frame's values were observed at {found.isoformat()}, " + (
                    f"{delta} {when} the event: leakage"
                    if delta > pd.Timedelta(0)
                    else f"{-delta} {when} the event (older row: stale or beyond the ttl)"
                )
            lines.append(f"{head}; {expected}; {origin}")
    finally:
        connection.close()
    return lines


def _where_values_occur(
    connection: duckdb.DuckDBPyConnection, driver: Any, values: Mapping[str, Any]
) -> pd.Timestamp | None:
    if any(pd.isna(value) for value in values.values()):
        return None
    conditions = " AND ".join(f"{_quote(name)} = ?" for name in values)
    found = connection.execute(
        f"SELECT min({FEATURE_TIMESTAMP}) FROM source "
        f"WHERE {_quote(ENTITY_KEY)} = ? AND {conditions}",
        [int(driver), *(float(value) for value in values.values())],
    ).fetchone()
    if not found or found[0] is None:
        return None
    return pd.Timestamp(int(found[0]), unit="us", tz="UTC")


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "null"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)
