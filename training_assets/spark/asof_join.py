"""The point-in-time join on Spark, with exactly the semantics of the DuckDB ASOF join
(`training_assets.feast_offline_store.asof_join`):

- every label row is kept, duplicates included; a row with no usable feature row (before the
  driver's first feature row, or a driver without any) gets null features;
- for each label row: the feature row of the same join key(s) with the latest timestamp at or
  before the label's event timestamp; among equal feature timestamps the latest `created`
  (nulls last); nothing when that row is older than the ttl (`event_ts - feature_ts > ttl`);
- the training frame carries that row's timestamp (`feature_timestamp`, null with the
  features), the leakage check's evidence, as the DuckDB join does.

How: labels and feature rows are unioned, partitioned by join key and ordered by time, with
feature rows sorting before label rows at equal times (and by `created` among themselves, so
the latest `created` comes last). A running `last(feature row, ignorenulls=True)` over that
window hands each label row the latest feature row before it: one shuffle and one sort, no
join of every label with every earlier feature row (what makes Feast's SQL stores slow), and
nothing is collected to the driver. The feature row travels as one struct, so a feature that
is itself null is not skipped over by `ignorenulls`.

Known limit: all rows of one join key go to one task, so a single key with a huge history is
handled by one core.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from training_assets.feast_offline_store.asof_join import AsOfJoinError, FeatureViewSpec
from training_assets.schema import (
    ENTITY_KEY,
    EVENT_TIMESTAMP,
    FEATURE_TIMESTAMP,
    FEATURES,
    LABEL_COLUMNS,
    TARGET,
    TRAINING_FRAME_COLUMNS,
    TRAINING_FRAME_SORT_KEYS,
)

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import DataFrame, SparkSession

# Spark types of Feast's value types (what `feature_repo/driver_features.py` declares).
FEAST_TO_SPARK_TYPE = {"Float32": "float", "Float64": "double", "Int32": "int", "Int64": "bigint"}
# The driver_stats view's declared types, for callers without the Feast registry at hand.
DECLARED_TYPES = {"conv_rate": "Float32", "acc_rate": "Float32", "avg_daily_trips": "Int32"}
LABEL_TYPES = {EVENT_TIMESTAMP: "timestamp", ENTITY_KEY: "bigint", TARGET: "bigint"}

_KIND_FEATURE, _KIND_LABEL = 0, 1


def read_labels(
    spark: SparkSession,
    source: str | Path | DataFrame,
    separator: str = "\t",
    types: Mapping[str, str] = LABEL_TYPES,
) -> DataFrame:
    """Label rows from a Parquet file/directory, a CSV file (the seed's tab-separated format,
    ISO-8601 timestamps) or a Spark DataFrame, with the `types` columns cast.

    Casts run in ANSI mode (Spark 4's default): a malformed value fails the job instead of
    silently becoming null.
    """
    from pyspark.sql import DataFrame

    if isinstance(source, DataFrame):
        frame = source
    else:
        path = str(source)
        if path.endswith((".csv", ".tsv", ".txt")):
            frame = spark.read.csv(path, sep=separator, header=True, inferSchema=False)
        else:
            frame = spark.read.parquet(path)
    missing = [name for name in types if name not in frame.columns]
    if missing:
        raise AsOfJoinError(f"The label rows lack column(s) {missing}; columns: {frame.columns}.")
    return frame.select(*(_cast(c, types.get(c)) for c in frame.columns))


def _cast(name: str, spark_type: str | None):
    from pyspark.sql import functions as F

    column = F.col(_q(name))
    return column.cast(spark_type).alias(name) if spark_type else column


def _q(name: str) -> str:
    """A column name quoted for Spark (names may hold dots or spaces)."""
    return "`" + name.replace("`", "``") + "`"


def _feature_rows(spark: SparkSession, spec: FeatureViewSpec) -> tuple[DataFrame, dict[str, str]]:
    """The view's source with its columns renamed by `field_mapping`; name -> file column."""
    try:
        source = spark.read.parquet(spec.path)
    except Exception as error:
        raise AsOfJoinError(
            f"Cannot read the source of feature view {spec.name!r} at {spec.path}: {error}"
        ) from error
    mapping = {old: new for old, new in spec.field_mapping if old in source.columns}
    return source, {mapping.get(column, column): column for column in source.columns}


def join_view(
    labels: DataFrame,
    spec: FeatureViewSpec,
    event_timestamp: str,
    carry_timestamp: str | None = None,
) -> DataFrame:
    """`labels` with the view's features appended (output names), one row per label row;
    with `carry_timestamp`, also a column of that name with the used feature row's time."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    spark = labels.sparkSession
    if event_timestamp not in labels.columns:
        raise AsOfJoinError(
            f"The entity rows have no event timestamp column {event_timestamp!r}; "
            f"columns: {labels.columns}."
        )
    missing = [key for _, key in spec.join_keys if key not in labels.columns]
    if missing:
        raise AsOfJoinError(
            f"Feature view {spec.name!r} joins on {missing}, which the entity rows lack "
            f"(columns: {labels.columns})."
        )
    outputs = [output for _, output in spec.features] + (
        [carry_timestamp] if carry_timestamp else []
    )
    clash = sorted(set(outputs) & set(labels.columns))
    if clash:
        raise AsOfJoinError(
            f"Column name(s) {clash} would appear twice in the result: rename the entity "
            "column(s) or use full feature names."
        )
    source, available = _feature_rows(spark, spec)

    def column(name: str, role: str):
        if name not in available:
            raise AsOfJoinError(
                f"Feature view {spec.name!r}: {role} column {name!r} is not in its source "
                f"{spec.path} (columns: {sorted(available)})."
            )
        return F.col(_q(available[name]))

    label_types = dict(labels.dtypes)
    keys = [f"__k{i}" for i in range(len(spec.join_keys))]
    created = (
        column(spec.created_timestamp_column, "created timestamp").cast("timestamp")
        if spec.created_timestamp_column
        else F.lit(None).cast("timestamp")
    )
    timestamp = column(spec.timestamp_field, "timestamp").cast("timestamp")
    features = source.select(
        *(
            # Spark's union needs equal types; the labels' key type is what is compared.
            column(src, "join key").cast(label_types[entity]).alias(keys[i])
            for i, (src, entity) in enumerate(spec.join_keys)
        ),
        timestamp.alias("__ts"),
        created.alias("__created"),
        F.lit(_KIND_FEATURE).alias("__kind"),
        # The whole feature row as one struct: `ignorenulls` then skips label rows only,
        # never a feature row whose value happens to be null.
        F.struct(
            timestamp.alias("ts"),
            *(column(src, "feature").alias(f"f{i}") for i, (src, _) in enumerate(spec.features)),
        ).alias("__feature"),
    )
    # A null key or timestamp never matches (as in SQL); drop such rows before partitioning.
    usable = F.col("__ts").isNotNull()
    for key in keys:
        usable &= F.col(key).isNotNull()
    features = features.where(usable)
    label_rows = labels.select(
        *(F.col(_q(entity)).alias(keys[i]) for i, (_, entity) in enumerate(spec.join_keys)),
        F.col(_q(event_timestamp)).cast("timestamp").alias("__ts"),
        F.lit(None).cast("timestamp").alias("__created"),
        F.lit(_KIND_LABEL).alias("__kind"),
        F.lit(None).cast(features.schema["__feature"].dataType).alias("__feature"),
        # The label row as it is, carried through untouched.
        F.struct(*(F.col(_q(name)) for name in labels.columns)).alias("__label"),
    )
    features = features.withColumn(
        "__label", F.lit(None).cast(label_rows.schema["__label"].dataType)
    )
    # Feature rows before label rows at equal times; among feature rows at one time the
    # latest `created` last (nulls first = they lose, like DuckDB's DESC NULLS LAST).
    window = (
        Window.partitionBy(*keys)
        .orderBy(
            F.col("__ts").asc_nulls_first(),
            F.col("__kind").asc(),
            F.col("__created").asc_nulls_first(),
        )
        .rowsBetween(Window.unboundedPreceding, Window.currentRow)
    )
    carried = (
        features.unionByName(label_rows)
        .withColumn("__asof", F.last("__feature", ignorenulls=True).over(window))
        .where(F.col("__kind") == _KIND_LABEL)
    )
    fresh = F.col("__asof").isNotNull() & F.col("__ts").isNotNull()
    if spec.ttl_microseconds:
        age = F.unix_micros(F.col("__ts")) - F.unix_micros(F.col("__asof.ts"))
        fresh &= age <= F.lit(int(spec.ttl_microseconds))
    return carried.select(
        *(F.col(f"__label.{_q(name)}").alias(name) for name in labels.columns),
        *(
            F.when(fresh, F.col(f"__asof.f{i}")).alias(output)
            for i, (_, output) in enumerate(spec.features)
        ),
        *([F.when(fresh, F.col("__asof.ts")).alias(carry_timestamp)] if carry_timestamp else []),
    )


def asof_join(
    labels: DataFrame,
    views: Sequence[FeatureViewSpec],
    event_timestamp: str = EVENT_TIMESTAMP,
    carry_timestamps: Mapping[str, str] | None = None,
) -> DataFrame:
    """The point-in-time join of every view onto `labels` (lazy: nothing runs yet);
    `carry_timestamps` maps a view's name to the column that gets its feature row's time."""
    if not views:
        raise AsOfJoinError("No feature views to join.")
    spark = labels.sparkSession
    if spark.conf.get("spark.sql.session.timeZone") != "UTC":
        # Timestamps without a zone must mean UTC, as in Feast and the DuckDB join.
        spark.conf.set("spark.sql.session.timeZone", "UTC")
    for spec in views:
        carried = (carry_timestamps or {}).get(spec.name)
        labels = join_view(labels, spec, event_timestamp, carried)
    return labels


def training_frame(
    joined: DataFrame,
    declared: Mapping[str, str] = DECLARED_TYPES,
    features: Sequence[str] = FEATURES,
) -> DataFrame:
    """The training frame's columns, declared feature types, sorted by the frame's sort keys.

    Integer features stay integer (nullable) in Parquet, as in the DuckDB path's frame; the
    feature timestamp is a UTC timestamp (microseconds, as DuckDB's TIMESTAMPTZ).
    """
    from pyspark.sql import functions as F

    columns = [*LABEL_COLUMNS, *features, FEATURE_TIMESTAMP]
    missing = [name for name in columns if name not in joined.columns]
    if missing:
        raise AsOfJoinError(f"The joined rows lack {missing}; columns: {joined.columns}.")
    selected = []
    for name in columns:
        spark_type = FEAST_TO_SPARK_TYPE.get(declared.get(name, ""))
        selected.append(F.col(_q(name)).cast(spark_type).alias(name) if spark_type else name)
    # Nulls last, like DuckDB's ORDER BY; rows equal on the sort keys are identical (same
    # driver and time, same features), so their relative order does not matter.
    order = [F.col(_q(name)).asc_nulls_last() for name in TRAINING_FRAME_SORT_KEYS]
    return joined.select(*selected).orderBy(*order)


@dataclass(frozen=True)
class WrittenFrame:
    path: Path
    rows: int
    files: int
    seconds: float


def parquet_rows(path: Path) -> tuple[int, int]:
    """(rows, files) of a Parquet dataset directory, from the footers only."""
    import pyarrow.parquet as pq

    files = sorted(p for p in path.glob("*.parquet") if not p.name.startswith(("_", ".")))
    return sum(pq.read_metadata(p).num_rows for p in files), len(files)


def write_frame(
    spark: SparkSession,
    labels: str | Path | DataFrame,
    plan: FeatureViewSpec | dict[str, Any],
    staging: str | Path,
    declared: Mapping[str, str] = DECLARED_TYPES,
    features: Sequence[str] = FEATURES,
    separator: str = "\t",
) -> WrittenFrame:
    """Join the view described by `plan` (the dict `feast_registry` records for the DuckDB
    path, or a FeatureViewSpec) onto the labels and write the training frame into the new
    directory `staging` as a Parquet dataset, written by the executors.

    The job must succeed and the footers must count every label row; otherwise `staging` is
    removed and the error raised. Publishing it (a rename) is the caller's: the versioned IO
    manager (`ParquetDataset`) or `write_training_frame`. (Workers here share the local file
    system; on a real cluster `staging` must be on storage every executor can write.)
    """
    started = time.monotonic()
    spec = plan if isinstance(plan, FeatureViewSpec) else FeatureViewSpec.from_dict(plan)
    spec = spec.with_features(features)
    staging = Path(staging).resolve()
    if staging.exists():
        raise FileExistsError(f"{staging} exists; the training frame is never overwritten.")
    label_rows = read_labels(spark, labels, separator)
    joined = asof_join(label_rows, [spec], carry_timestamps={spec.name: FEATURE_TIMESTAMP})
    frame = training_frame(joined, declared, features)
    try:
        expected = label_rows.count()
        frame.write.mode("errorifexists").parquet(str(staging))
        rows, files = parquet_rows(staging)
        if rows != expected:
            # Every label row must survive the join; anything else is a bug in the join.
            raise RuntimeError(f"The join wrote {rows} rows for {expected} label rows.")
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return WrittenFrame(staging, rows, files, time.monotonic() - started)


def write_training_frame(
    spark: SparkSession,
    labels: str | Path | DataFrame,
    plan: FeatureViewSpec | dict[str, Any],
    destination: str | Path,
    declared: Mapping[str, str] = DECLARED_TYPES,
    features: Sequence[str] = FEATURES,
    separator: str = "\t",
) -> WrittenFrame:
    """`write_frame` into a staging directory next to `destination`, renamed to
    `destination` only once complete: all or nothing at `destination`."""
    destination = Path(destination).resolve()
    if destination.exists():
        raise FileExistsError(f"{destination} exists; the training frame is never overwritten.")
    staging = destination.with_name(f".{destination.name}.staging-{uuid.uuid4().hex[:12]}")
    written = write_frame(spark, labels, plan, staging, declared, features, separator)
    try:
        os.rename(staging, destination)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return WrittenFrame(destination, written.rows, written.files, written.seconds)


def read_frame(path: str | Path) -> pd.DataFrame:
    """The written training frame as pandas, in the written (sorted) order.

    Part files are named by partition number and the sort range-partitions the rows, so
    reading the files in name order gives the rows sorted.
    """
    import pyarrow.parquet as pq

    files = sorted(p for p in Path(path).glob("*.parquet") if not p.name.startswith(("_", ".")))
    if not files:
        raise FileNotFoundError(f"No Parquet files in {path}.")
    import pyarrow as pa

    table = pa.concat_tables(pq.read_table(p) for p in files)
    return table.select(list(TRAINING_FRAME_COLUMNS)).to_pandas()
