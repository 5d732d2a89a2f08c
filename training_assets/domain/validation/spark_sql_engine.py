"""The SQL backend of the data checks on Spark: the Great Expectations suites' SQL
(`sql_engine.SqlExpectations`, `frame_checks_sql.py`) run by Spark SQL over a stored Parquet
version, so the checks of the Spark profile run where the frame lies, on the executors.

The same interface as DuckDB's `StoredFrame`; only the dialect differs (backquoted names,
TIMESTAMP literals, temp views, a semi join where DuckDB has an ASOF join). Values come back
as DuckDB returns them (timestamps aware in UTC, integers with missing values as pandas'
nullable integers), so the results, messages and stored records are the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from training_assets.domain.validation.source_index import RELATION, index_sql
from training_assets.io_managers.files import dataset_files

if TYPE_CHECKING:
    from pathlib import Path

    from pyspark.sql import SparkSession

    from training_assets.domain.validation.leakage import FeatureSource


class SparkStoredFrame:
    """A stored Parquet version (a file or a dataset directory) as the temp view `frame` of
    `spark`, with its rows' stored order as `__file, __row` (part file, row within it)."""

    engine = "spark"
    timestamp_type = "TIMESTAMP"
    row_key: tuple[str, ...] = ("__file", "__row")

    def __init__(self, spark: SparkSession, path: str) -> None:
        self.spark, self.path = spark, path
        files = dataset_files(path)
        self.rows = sum(pq.read_metadata(f).num_rows for f in files)
        self.schema = pq.read_schema(files[0])
        # Timestamps without a zone mean UTC, as in DuckDB's session.
        if spark.conf.get("spark.sql.session.timeZone") != "UTC":
            spark.conf.set("spark.sql.session.timeZone", "UTC")
        # Session-scoped temp views named as in DuckDB (`frame`, `checked`, ...), dropped on
        # close: a run's steps, and so its checks, take turns in one session.
        self._views: list[str] = []
        self._cached: list[str] = []
        rows = spark.read.parquet(str(path)).selectExpr(
            "*", "_metadata.file_name AS __file", "_metadata.row_index AS __row"
        )
        rows.createOrReplaceTempView("frame")
        self._views.append("frame")

    def close(self) -> None:
        for name in self._cached:
            self.spark.catalog.uncacheTable(name)
        for name in self._views:
            self.spark.catalog.dropTempView(name)

    def __enter__(self) -> SparkStoredFrame:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # ---- the dialect ----

    @staticmethod
    def quote(name: str) -> str:
        return "`" + name.replace("`", "``") + "`"

    @staticmethod
    def literal(value: Any) -> str:
        if isinstance(value, str):
            return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
        if isinstance(value, datetime):
            return f"TIMESTAMP '{value.isoformat()}'"
        return repr(value)

    def view(self, name: str, select: str) -> None:
        self.spark.sql(f"CREATE OR REPLACE TEMP VIEW {name} AS {select}")
        self._views.append(name)

    def table(self, name: str, select: str) -> None:
        """A view cached by the executors (memory, spilling to disk), computed once."""
        self.view(name, select)
        self.spark.catalog.cacheTable(name)
        self._cached.append(name)

    @property
    def row_order(self) -> str:
        return ", ".join(self.row_key)

    def parquet(self, path: str) -> str:
        return f"parquet.{self.quote(path)}"

    def source_index(self, source: FeatureSource, cache_dir: Path | None) -> None:
        """`source_next`, computed by the executors for this check and cached there: the
        on-disk cache of the DuckDB backend lives beside the run's process, not on the
        storage every executor shares, so it is not used here."""
        sql = index_sql(source, self.quote, self.timestamp_type, self.parquet(source.path))
        self.table(RELATION, sql)

    def plus_micros(self, timestamp: str, micros: int) -> str:
        return f"timestamp_micros(unix_micros({timestamp}) + {int(micros)})"

    def count_with_row_at_or_before(
        self, rows: str, source: str, key: str, event: str, within: str
    ) -> str:
        """As DuckDB's ASOF join, without one: a row at or before the event that satisfies
        `within` exists exactly when the latest such row does (`within` bounds it from below:
        the ttl), so a semi join answers it."""
        return (
            f"SELECT count(*) FROM ({rows}) f LEFT SEMI JOIN {source} s "
            f"ON f.{key} = s.{key} AND f.{event} >= s.__ts{within}"
        )

    # ---- queries ----

    def all(self, sql: str) -> list[tuple]:
        return [tuple(_as_duckdb(v) for v in row) for row in self.spark.sql(sql).collect()]

    def one(self, sql: str) -> tuple | None:
        rows = self.all(sql)
        return rows[0] if rows else None

    def pandas(self, sql: str) -> pd.DataFrame:
        """The result as DuckDB's `.df()` gives it: an integer column with missing values as
        pandas' nullable integer, timestamps aware in UTC."""
        table = self.spark.sql(sql).toArrow()
        frame = table.to_pandas()
        for field in table.schema:
            if pa.types.is_integer(field.type) and table[field.name].null_count:
                nullable = pd.api.types.pandas_dtype(f"Int{field.type.bit_width}")
                frame[field.name] = pd.array(table[field.name].to_pylist(), dtype=nullable)
            elif pa.types.is_timestamp(field.type) and field.type.tz is None:
                frame[field.name] = frame[field.name].dt.tz_localize("UTC")
        return frame

    def columns(self) -> str:
        return ", ".join(self.quote(n) for n in self.schema.names)

    def null_counts(self) -> dict[str, int]:
        names = self.schema.names
        counts = self.one(
            "SELECT "
            + ", ".join(f"count(*) - count({self.quote(n)})" for n in names)
            + " FROM frame"
        )
        return dict(zip(names, map(int, counts), strict=True))

    def empty_pandas(self, nulls: Mapping[str, int]) -> pd.DataFrame:
        frame = self.schema.empty_table().to_pandas()
        for name in frame.columns:
            if nulls.get(name) and pa.types.is_integer(self.schema.field(name).type):
                frame[name] = frame[name].astype("float64")
        return frame


def _as_duckdb(value: Any) -> Any:
    """A collected value as DuckDB returns it: pyspark gives timestamps as naive datetimes
    in this process's local time zone; DuckDB (session zone UTC) gives them aware, in UTC."""
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.astimezone(UTC)
    return value
