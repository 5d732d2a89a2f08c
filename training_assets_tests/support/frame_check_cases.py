"""Frames that pass or fail each data check, and a comparable view of a check's result: for
tests that run the same checks on two SQL backends (DuckDB over a file or a dataset, Spark SQL)
and require the same verdicts, figures and messages.

The frames are `test_data_checks.py`'s crafted ones, on `feature_source.py`'s tiny source.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from training_assets.domain.validation.frame_checks import FRAME_CHECKS
from training_assets.domain.validation.frame_checks_sql import run_frame_check_sql
from training_assets.resources.data_validation import DataValidationResource
from training_assets_tests.support.feature_source import (
    good_frame,
    registry_for,
    write_feature_source,
)

CHECK_BY_NAME = {check.name: check for check in FRAME_CHECKS}
FEATURE_COLUMNS = ["conv_rate", "acc_rate", "avg_daily_trips"]
# Metadata naming where or how a result was computed, not what it found.
_WHERE = {"engine", "gx_result_path"}
# Keys of GX's own records that differ on every run (ids, run times, batch names).
_PER_RUN = {
    "id",
    "batch_id",
    "run_id",
    "validation_time",
    "run_time",
    "datasource_name",
    "ge_load_time",
    "validation_id",
}


@dataclass(frozen=True)
class Case:
    name: str
    checks: tuple[str, ...]
    frame: Callable[[], pd.DataFrame]
    ttl_seconds: float = 86400.0


def _features_missing_on_row(row: int) -> pd.DataFrame:
    bad = good_frame().astype({"avg_daily_trips": "Int32"})
    bad.loc[row, FEATURE_COLUMNS] = [float("nan"), float("nan"), pd.NA]
    bad.loc[row, "feature_timestamp"] = pd.NaT
    return bad


def _values() -> pd.DataFrame:
    bad = good_frame().astype({"avg_daily_trips": "float64"})
    bad.loc[0, "conv_rate"] = 1.5
    bad.loc[2, "avg_daily_trips"] = 2.5
    bad.loc[3, "event_timestamp"] = pd.Timestamp("2099-01-01", tz="UTC")
    return bad


def _leaky() -> pd.DataFrame:
    bad = good_frame()
    bad.loc[1, FEATURE_COLUMNS] = [0.55, 0.65, 550]  # driver 2's values of the next day
    return bad.astype({"conv_rate": "float32", "acc_rate": "float32", "avg_daily_trips": "int32"})


def _stale() -> pd.DataFrame:
    bad = good_frame()
    bad.loc[3, FEATURE_COLUMNS] = [0.3, 0.4, 30]  # the older `created` of a tie
    return bad.astype({"conv_rate": "float32", "acc_rate": "float32", "avg_daily_trips": "int32"})


ALL = tuple(check.name for check in FRAME_CHECKS)
CASES = (
    Case("good", ALL, good_frame),
    Case("good, 2 h ttl", ("training_frame_leakage",), good_frame, ttl_seconds=2 * 3600),
    Case(
        "features missing",
        ("training_frame_completeness", "training_frame_values", "training_frame_leakage"),
        lambda: _features_missing_on_row(1),
    ),
    Case("schema", ("training_frame_schema",), lambda: good_frame().drop(columns="acc_rate")),
    Case(
        "label domain",
        ("training_frame_label_domain", "training_frame_volume"),
        lambda: good_frame().assign(trip_completed=[0, 2, 7, 1]),
    ),
    Case("values", ("training_frame_values",), _values),
    Case(
        "negative trips",
        ("training_frame_values",),
        lambda: good_frame().assign(avg_daily_trips=pd.array([10, -1, 900, 35], dtype="int32")),
    ),
    Case("one class", ("training_frame_volume",), lambda: good_frame().assign(trip_completed=1)),
    Case("leakage", ("training_frame_leakage",), _leaky),
    Case("created tie-break", ("training_frame_leakage",), _stale),
    Case(
        "not in the source",
        ("training_frame_leakage",),
        lambda: good_frame().assign(conv_rate=pd.array([0.1, 0.5, 0.9, 0.123], dtype="float32")),
    ),
)


def write_source(path: Path) -> Path:
    """`feature_source.py`'s source with microsecond timestamps, as the pipeline's sources
    have them (Spark reads no nanosecond Parquet timestamps)."""
    write_feature_source(path)
    pq.write_table(pq.read_table(path), path, coerce_timestamps="us")
    return path


def write_frame(frame: pd.DataFrame, path: Path, parts: int = 1) -> Path:
    """The frame as the pipeline stores it (microsecond timestamps): one file, or a dataset
    directory of `parts` part files in row order."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    if parts == 1:
        pq.write_table(table, path, coerce_timestamps="us")
        return path
    path.mkdir(parents=True)
    size = -(-table.num_rows // parts)
    for number in range(parts):
        part = table.slice(number * size, size)
        pq.write_table(part, path / f"part-{number:05d}.parquet", coerce_timestamps="us")
    return path


def run_check(
    check: str,
    path: Path,
    source: Path,
    ttl_seconds: float,
    result_dir: Path,
    open_frame=None,
) -> dict[str, Any]:
    """The check's comparable result: verdict, metadata values (not where it ran) and the
    stored record without its engine line."""
    settings = DataValidationResource(result_dir=str(result_dir), min_rows=3)
    result = run_frame_check_sql(
        CHECK_BY_NAME[check],
        str(path),
        registry_for(source, ttl_seconds=ttl_seconds),
        settings,
        datetime(2026, 6, 1, tzinfo=UTC),
        open_frame=open_frame,
    )
    stored = json.loads(settings.result_path("training_frame", check).read_text())
    stored.pop("validated_at")
    for suite in stored.get("gx_results", []):
        suite.pop("engine", None)
    stored.get("extra", {}).pop("engine", None)
    stored = _without(stored, _PER_RUN)
    return {
        "passed": result.passed,
        "metadata": {
            key: value.value if isinstance(value, dg.MetadataValue) else value
            for key, value in result.metadata.items()
            if key not in _WHERE
        },
        "stored": stored,
    }


def _without(value: Any, keys: set[str]) -> Any:
    if isinstance(value, dict):
        return {k: _without(v, keys) for k, v in value.items() if k not in keys}
    if isinstance(value, list):
        return [_without(v, keys) for v in value]
    return value
