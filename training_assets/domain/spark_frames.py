"""The training frame on Spark (TRAINING_ENGINE=spark): which join the feature repo asks for,
the profile of a written frame computed by the executors in one pass (rows, nulls, time range,
label domain, feature ranges, content hash), the input checks and the UI metadata made from it.

The same rules and messages as the DuckDB path (`training_frame.py`, `input_checks.py`,
`resources/labels.py`), without bringing the frame to the driver: only the profile (a few
numbers per column), at most ten preview rows and a handful of offending examples do.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dagster as dg
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from training_assets.domain.input_checks import FeatureSourceError
from training_assets.domain.training_frame import service_features
from training_assets.io_managers.files import dataset_files
from training_assets.resources.labels import LabelsError, LabelsResource
from training_assets.schema import (
    ENTITY_KEY,
    EVENT_TIMESTAMP,
    FEATURE_RANGES,
    FEATURE_SERVICE,
    FEATURE_VIEW,
    FEATURES,
    LABEL_CLASSES,
    LABEL_COLUMNS,
    TARGET,
)

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

# Seeds of the two row hashes summed into a frame's content hash.
_HASH_SEEDS = (1, 2)


@dataclass(frozen=True)
class JoinPlan:
    """What `training_frame` joins: the view's declared types, the features (the feature
    service's projection), the join plan the ASOF offline store recorded at `feast apply`."""

    declared: dict[str, str]
    features: list[str]
    plan: dict[str, Any]
    service: str | None


def join_plan(
    feast_registry: dict[str, Any], repo_path: str, warn: Callable[[str], None]
) -> JoinPlan:
    """The plan `feast_registry` recorded, chosen as the DuckDB path chooses it (the feature
    service's, else the view's). The Spark join runs from that plan, so the feature repo
    stays the one definition of names, types, ttl and source."""
    declared = feast_registry["feature_views"].get(FEATURE_VIEW, {}).get("features", {})
    missing = [name for name in FEATURES if name not in declared]
    if missing:
        raise ValueError(
            f"Feature view {FEATURE_VIEW!r} in {repo_path} does not declare {missing}; "
            f"it declares {sorted(declared)}."
        )
    service = feast_registry.get("feature_services", {}).get(FEATURE_SERVICE)
    offline_store = feast_registry.get("offline_store", {})
    if service is not None:
        features = service_features(service, repo_path)
        plans = offline_store.get("feature_services", {}).get(FEATURE_SERVICE)
        plan = plans[0] if plans else None
    else:
        warn(
            f"Feature service {FEATURE_SERVICE!r} is not in the registry of {repo_path}: "
            f"joining the features of view {FEATURE_VIEW!r}."
        )
        features = list(FEATURES)
        plan = offline_store.get("feature_views", {}).get(FEATURE_VIEW)
    if plan is None:
        raise ValueError(
            f"TRAINING_ENGINE=spark joins from the plan the ASOF offline store "
            "(training_assets.feast_offline_store.asof_store) records at `feast apply`; the "
            f"feature repo {repo_path} uses the {offline_store.get('type', 'unknown')!r} "
            "offline store. Set its offline_store type in feature_store.yaml, or use "
            "TRAINING_ENGINE=duckdb."
        )
    return JoinPlan(declared, features, plan, FEATURE_SERVICE if service is not None else None)


def _q(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def frame_profile(frame: DataFrame, features: Sequence[str] = FEATURES) -> dict[str, Any]:
    """One aggregate over a (written) training frame: rows, nulls per column, rows missing a
    feature, first and last event (epoch microseconds), the label's range, per feature the
    rows that are NaN or outside FEATURE_RANGES, and the content hash."""
    from pyspark.sql import functions as F

    columns = frame.columns
    types = dict(frame.dtypes)

    def count(condition):
        return F.sum(F.coalesce(condition, F.lit(False)).cast("long"))

    aggregates = [F.count(F.lit(1)).alias("rows")]
    aggregates += [count(F.col(_q(c)).isNull()).alias(f"null:{c}") for c in columns]
    missing = F.lit(False)
    for name in features:
        missing = missing | F.col(_q(name)).isNull()
    aggregates.append(count(missing).alias("missing_features"))
    event = F.unix_micros(F.col(EVENT_TIMESTAMP).cast("timestamp"))
    aggregates += [F.min(event).alias("first_event"), F.max(event).alias("last_event")]
    aggregates += [F.min(TARGET).alias("target_min"), F.max(TARGET).alias("target_max")]
    for name in features:
        low, high = FEATURE_RANGES.get(name, (None, None))
        aggregates.append(count(_out_of_range(name, types[name], low, high)).alias(f"bad:{name}"))
    aggregates += _hash_sums(columns)
    row = frame.agg(*aggregates).first().asDict()
    return {
        "rows": int(row["rows"]),
        "columns": columns,
        "null_counts": {c: int(row[f"null:{c}"] or 0) for c in columns},
        "missing_features": int(row["missing_features"] or 0),
        "first_event": row["first_event"],
        "last_event": row["last_event"],
        "target_min": row["target_min"],
        "target_max": row["target_max"],
        "out_of_range": {name: int(row[f"bad:{name}"] or 0) for name in features},
        "content_hash": _digest(columns, row),
    }


def content_hash(frame: DataFrame, **aggregates) -> tuple[str, dict[str, Any]]:
    """A hash of a frame's rows (as a multiset) and column names, computed by the executors,
    with the values of `aggregates` (Spark columns by name) from the same pass. Not the
    DuckDB path's `content_hash` (which hashes the rows in order on one machine): a frame has
    one data version per engine."""
    from pyspark.sql import functions as F

    extra = [column.alias(name) for name, column in aggregates.items()]
    row = frame.agg(F.count(F.lit(1)).alias("rows"), *_hash_sums(frame.columns), *extra).first()
    values = row.asDict()
    return _digest(frame.columns, values), {name: values[name] for name in aggregates}


def _hash_sums(columns: Sequence[str]) -> list:
    from pyspark.sql import functions as F

    sums = []
    for seed in _HASH_SEEDS:
        row_hash = F.xxhash64(F.lit(seed), *(F.col(_q(c)) for c in columns))
        # A sum of 64-bit hashes: exact in decimal(38), where a long sum would overflow.
        sums.append(F.sum(row_hash.cast("decimal(38,0)")).alias(f"hash{seed}"))
    return sums


def _digest(columns: Sequence[str], row: dict[str, Any]) -> str:
    digest = hashlib.sha256(",".join(columns).encode())
    digest.update("".join(f"|{row[key]}" for key in ("rows", "hash1", "hash2")).encode())
    return digest.hexdigest()[:16]


def _out_of_range(name: str, spark_type: str, low: float | None, high: float | None):
    from pyspark.sql import functions as F

    column = F.col(_q(name))
    bad = F.isnan(column) if spark_type in ("float", "double") else F.lit(False)
    if low is not None:
        bad = bad | (column < F.lit(low))
    if high is not None:
        bad = bad | (column > F.lit(high))
    return bad


def check_labels(profile: dict[str, Any], labels: LabelsResource) -> None:
    """The label rule of `LabelsResource`: no missing value, labels in LABEL_CLASSES, no
    event in the future. The profile tells whether one is broken; only then is the file read
    on the driver, by `LabelsResource`, for its message naming the line."""
    problems = [
        f"{profile['null_counts'][name]} empty or unreadable {name!r} value(s)"
        for name in LABEL_COLUMNS
        if profile["null_counts"].get(name)
    ]
    low, high = profile["target_min"], profile["target_max"]
    if low is not None and (low not in LABEL_CLASSES or high not in LABEL_CLASSES):
        problems.append(f"{TARGET!r} ranges from {low} to {high}, not only {LABEL_CLASSES}")
    last = profile["last_event"]
    if last is not None and last > datetime.now(UTC).timestamp() * 1_000_000:
        problems.append(f"events in the future (last {_time(last)})")
    if problems:
        labels.read_arrow()  # raises, naming the values and their lines
        raise LabelsError(f"Labels file {labels.path}: {'; '.join(problems)}.")


def check_joined_features(frame: DataFrame, profile: dict[str, Any], plan: dict[str, Any]) -> None:
    """The features each label row received: finite, in range, and found for every driver
    (the rules and messages of `input_checks.check_joined_features`)."""
    from pyspark.sql import functions as F

    source = plan["path"]
    types = dict(frame.dtypes)
    for name, (low, high) in FEATURE_RANGES.items():
        bad_rows = profile["out_of_range"].get(name, 0)
        if bad_rows:
            condition = F.coalesce(_out_of_range(name, types[name], low, high), F.lit(False))
            examples = frame.where(condition).select(name, ENTITY_KEY, EVENT_TIMESTAMP).limit(3)
            raise FeatureSourceError(
                f"Feature source {source}, column {name!r}: {bad_rows} label row(s) "
                f"received values that are NaN or outside {_interval(low, high)}, e.g. "
                f"{_examples(examples.toArrow(), name)}."
            )
    if not profile["missing_features"] or Path(source).is_dir():
        return
    (source_key, entity_key), *_ = plan["join_keys"]
    first = next(iter(FEATURE_RANGES))
    candidates = frame.where(F.col(first).isNull()).select(entity_key).distinct()
    known = frame.sparkSession.read.parquet(source).select(F.col(source_key).alias(entity_key))
    unseen = candidates.join(known.distinct(), entity_key, "left_anti")
    drivers = [row[0] for row in unseen.orderBy(entity_key).limit(6).collect()]
    if drivers:
        raise FeatureSourceError(
            f"Labels of {ENTITY_KEY} {drivers[:5]}{' and more' if len(drivers) > 5 else ''} "
            f"have no feature rows in the feature source {source}: an unknown driver, or a "
            "labels file that does not belong to these features."
        )


def _interval(low: float | None, high: float | None) -> str:
    return f"[{-math.inf if low is None else low}, {math.inf if high is None else high}]"


def _examples(rows: pa.Table, name: str) -> str:
    def number(value):
        return f"{value:.6g}" if isinstance(value, float) else str(value)

    return ", ".join(
        f"{number(row[name])} ({ENTITY_KEY} {row[ENTITY_KEY]}, label at {row[EVENT_TIMESTAMP]})"
        for row in rows.to_pylist()
    )


def _time(micros: int | None) -> str:
    return str(pd.Timestamp(micros, unit="us", tz="UTC")) if micros is not None else ""


def pandas_dtypes(dataset: Path, null_counts: dict[str, int]) -> dict[str, str]:
    """The dtypes the written dataset has once loaded into pandas (an integer column with
    nulls becomes float64), from a footer."""
    schema = pq.read_schema(dataset_files(dataset)[0])
    dtypes = schema.empty_table().to_pandas().dtypes
    return {
        name: "float64"
        if null_counts.get(name) and pa.types.is_integer(schema.field(name).type)
        else str(dtype)
        for name, dtype in dtypes.items()
    }


def preview(dataset: Path, rows: int = 10) -> str:
    """The first rows of the written (sorted) dataset, as markdown, from its first part file."""
    first = pq.ParquetFile(dataset_files(dataset)[0])
    table = first.read_row_group(0) if first.num_row_groups else first.read()
    return table.slice(0, rows).to_pandas().to_markdown(index=False)


def frame_metadata(profile: dict[str, Any], dataset: Path) -> dict[str, Any]:
    """The metadata `training_frame` shows, with the keys of the DuckDB path's."""
    dtypes = pandas_dtypes(dataset, profile["null_counts"])
    return {
        "dagster/row_count": profile["rows"],
        "dagster/column_schema": dg.TableSchema(
            columns=[dg.TableColumn(name, dtype) for name, dtype in dtypes.items()]
        ),
        "rows_without_features": profile["missing_features"],
        "null_counts": dg.MetadataValue.json(profile["null_counts"]),
        "first_event": _time(profile["first_event"]),
        "last_event": _time(profile["last_event"]),
        "preview": dg.MetadataValue.md(preview(dataset)),
    }
