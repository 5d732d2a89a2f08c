"""The Great Expectations suites evaluated in DuckDB, over the stored Parquet frame.

Above TRAINING_OUT_OF_CORE_ROWS rows the data checks do not load the frame into pandas (GX's
pandas engine copies the batch for every metric: 47-60 s and 4 GB at 10M rows, far more at
100M). GX 1.24 through a SQL datasource was measured too: with DuckDB (duckdb_engine) its
results come back empty (`SqlAlchemyExecutionEngine.execute_query` reads the cursor after the
connection went back to the pool) and, patched, it re-ran the leakage view for every metric.

So the expectations stay GX's (the same suite objects, `gx_suites.py`), and this module
computes each one's result with one SQL query over the file, in the shape GX's validation
results have (unexpected_count, element_count, missing_count, partial_unexpected_index_list,
observed_value, ...). `gx_validation` turns them into the same outcomes, metadata, log lines
and stored JSON as GX's own; a differential test compares both engines on the same frames.

The SQL runs on a backend: `StoredFrame` (DuckDB, in the run's process) or
`spark_sql_engine.SparkStoredFrame` (Spark SQL, on the cluster, for the Spark profile). The
few places their dialects differ (quoting, literals, views, one join) are methods of the
backend; everything else is the same SQL text, so both give the same results and messages.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

from training_assets.domain.validation.duckdb_dialect import literal, quote
from training_assets.io_managers.files import dataset_files

if TYPE_CHECKING:
    from pathlib import Path

    import duckdb
    import pandas as pd
    from great_expectations.expectations import Expectation

    from training_assets.domain.validation.leakage import FeatureSource


class StoredFrame:
    """A stored Parquet version (a file, or a dataset directory of part files), queried
    where it lies by DuckDB. `frame` is a view of its rows with `__row` numbering them in
    file order, part files in name order (so examples are the first ones, as GX's are)."""

    engine = "duckdb"
    timestamp_type = "TIMESTAMPTZ"
    # The columns that number the rows in their stored order (ORDER BY, joins on the row).
    row_key: tuple[str, ...] = ("__row",)

    def __init__(self, path: str, memory_limit: str = "2GB") -> None:
        import duckdb

        self.path = path
        files = dataset_files(path)
        self.rows = sum(pq.read_metadata(f).num_rows for f in files)
        self.schema = pq.read_schema(files[0])
        self.con: duckdb.DuckDBPyConnection = duckdb.connect()
        self.con.execute("SET TimeZone = 'UTC'")
        self.con.execute(f"SET memory_limit = {literal(memory_limit)}")
        # Nanosecond timestamps (a pandas-written file) as microseconds, which is what
        # DuckDB compares with other timestamps; the pipeline writes microseconds anyway.
        casts = [
            f"CAST({quote(f.name)} AS {'TIMESTAMPTZ' if f.type.tz else 'TIMESTAMP'}) "
            f"AS {quote(f.name)}"
            for f in self.schema
            if pa.types.is_timestamp(f.type) and f.type.unit == "ns"
        ]
        replace = f" REPLACE ({', '.join(casts)})" if casts else ""
        if len(files) == 1:
            rows = f"read_parquet({literal(str(files[0]))}, file_row_number = true)"
        else:
            # A dataset: each part's row numbers continue where the previous part's end.
            parts, offset = [], 0
            for part in files:
                parts.append(
                    f"SELECT * REPLACE (file_row_number + {offset} AS file_row_number) "
                    f"FROM read_parquet({literal(str(part))}, file_row_number = true)"
                )
                offset += pq.read_metadata(part).num_rows
            rows = f"({' UNION ALL '.join(parts)})"
        self.con.execute(
            f"CREATE VIEW frame AS SELECT *{replace} RENAME (file_row_number AS __row) FROM {rows}"
        )

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> StoredFrame:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # ---- the dialect ----

    quote = staticmethod(quote)
    literal = staticmethod(literal)

    def view(self, name: str, select: str) -> None:
        self.con.execute(f"CREATE OR REPLACE VIEW {name} AS {select}")

    def table(self, name: str, select: str) -> None:
        """A relation computed once and reused by the queries that follow."""
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {select}")

    @property
    def row_order(self) -> str:
        return ", ".join(self.row_key)

    def parquet(self, path: str) -> str:
        """A Parquet file as a relation."""
        return f"read_parquet({literal(path)})"

    def source_index(self, source: FeatureSource, cache_dir: Path | None) -> None:
        """`source_next`, the leakage proof's index of the feature source, cached on disk
        per source version (`source_index.py`)."""
        from training_assets.domain.validation.source_index import create_source_index

        create_source_index(self.con, source, cache_dir)

    def plus_micros(self, timestamp: str, micros: int) -> str:
        return f"{timestamp} + to_microseconds({int(micros)})"

    def count_with_row_at_or_before(
        self, rows: str, source: str, key: str, event: str, within: str
    ) -> str:
        """SQL counting the rows of `rows` (alias f) for which `source` (alias s, time
        `__ts`) has a row of the same `key` at or before `event`; `within` (a condition on
        f and s, or empty) must then hold for the latest such row."""
        return (
            f"SELECT count(*) FROM ({rows}) f ASOF JOIN {source} s "
            f"ON f.{key} = s.{key} AND f.{event} >= s.__ts WHERE true{within}"
        )

    # ---- queries ----

    def all(self, sql: str) -> list[tuple]:
        return self.con.execute(sql).fetchall()

    def one(self, sql: str) -> tuple:
        return self.con.execute(sql).fetchone()

    def pandas(self, sql: str) -> pd.DataFrame:
        return self.con.execute(sql).df()

    def columns(self) -> str:
        """The stored columns, quoted, in order (not `__row`)."""
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
        """No rows, and each column's dtype as pandas would give the whole frame (an integer
        column with missing values is float64): enough for the schema expectations."""
        frame = self.schema.empty_table().to_pandas()
        for name in frame.columns:
            if nulls.get(name) and pa.types.is_integer(self.schema.field(name).type):
                frame[name] = frame[name].astype("float64")
        return frame


def _float(schema: pa.Schema, column: str) -> bool:
    return column in schema.names and pa.types.is_floating(schema.field(column).type)


def _missing(frame: StoredFrame, schema: pa.Schema, column: str) -> str:
    """GX's pandas engine counts None and NaN as missing."""
    c = frame.quote(column)
    return f"({c} IS NULL OR isnan({c}))" if _float(schema, column) else f"({c} IS NULL)"


def _value(value: Any) -> Any:
    """A value as GX's JSON result holds it."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, float) and value != value:
        return None
    return value


class SqlExpectations:
    """Evaluates GX expectations over a relation of the stored frame (a view, or the frame
    with derived columns)."""

    def __init__(
        self,
        frame: StoredFrame,
        relation: str = "frame",
        index_columns: Sequence[str] = (),
        max_examples: int = 5,
        schema: pa.Schema | None = None,
    ) -> None:
        self.frame, self.relation = frame, relation
        self.index = [c for c in index_columns if c in frame.schema.names]
        self.max_examples = max_examples
        self.schema = schema or frame.schema

    def evaluate(self, expectations: Iterable[Expectation]) -> list[dict[str, Any]]:
        return [self._one(expectation) for expectation in expectations]

    def _item(self, expectation: Expectation, success: bool, result: dict) -> dict[str, Any]:
        return {
            "expectation_config": expectation.configuration.to_json_dict(),
            "success": bool(success),
            "result": result,
            "exception_info": {"raised_exception": False},
        }

    def _map(
        self, expectation: Expectation, checked: list[str], unexpected: str, ignored: str | None
    ) -> dict[str, Any]:
        """A column-map expectation: rows where `unexpected` holds fail; `ignored` rows (the
        missing ones) count neither way."""
        where = f"NOT ({ignored}) AND ({unexpected})" if ignored else unexpected
        count, missing = self.frame.one(
            f"SELECT count(*) FILTER (WHERE {where}), "
            f"count(*) FILTER (WHERE {ignored or 'false'}) FROM {self.relation}"
        )
        columns = list(dict.fromkeys([*checked, *self.index]))
        rows = self.frame.all(
            f"SELECT {', '.join(self.frame.quote(c) for c in columns)} FROM {self.relation} "
            f"WHERE {where} ORDER BY {self.frame.row_order} LIMIT {int(self.max_examples)}"
        )
        examples = [{c: _value(v) for c, v in zip(columns, row, strict=True)} for row in rows]
        total = self.frame.rows
        result: dict[str, Any] = {
            "element_count": total,
            "unexpected_count": int(count),
            "unexpected_percent": 100 * count / max(total - (missing or 0), 1),
            "partial_unexpected_list": [
                e[checked[0]] if len(checked) == 1 else [e[c] for c in checked] for e in examples
            ],
            "unexpected_index_column_names": self.index,
            "partial_unexpected_index_list": examples,
        }
        if ignored is not None:
            result["missing_count"] = int(missing)
            result["unexpected_percent_nonmissing"] = result["unexpected_percent"]
        return self._item(expectation, count == 0, result)

    def _one(self, e: Expectation) -> dict[str, Any]:
        kind = e.expectation_type
        relation, schema, frame = self.relation, self.schema, self.frame
        quote, literal = frame.quote, frame.literal
        if kind == "expect_column_values_to_not_be_null":
            return self._map(e, [e.column], _missing(frame, schema, e.column), None)
        if kind == "expect_column_values_to_be_in_set":
            values = ", ".join(literal(v) for v in e.value_set)
            missing = _missing(frame, schema, e.column)
            return self._map(e, [e.column], f"{quote(e.column)} NOT IN ({values})", missing)
        if kind == "expect_column_values_to_be_between":
            c = quote(e.column)
            outside = [f"{c} < {literal(e.min_value)}"] if e.min_value is not None else []
            outside += [f"{c} > {literal(e.max_value)}"] if e.max_value is not None else []
            missing = _missing(frame, schema, e.column)
            return self._map(e, [e.column], " OR ".join(outside) or "false", missing)
        if kind in (
            "expect_column_pair_values_to_be_equal",
            "expect_column_pair_values_a_to_be_greater_than_b",
        ):
            a, b = e.column_A, e.column_B
            missing_a, missing_b = _missing(frame, schema, a), _missing(frame, schema, b)
            ignored = {
                "both_values_are_missing": f"({missing_a} AND {missing_b})",
                "either_value_is_missing": f"({missing_a} OR {missing_b})",
            }.get(e.ignore_row_if or "", None)
            if kind == "expect_column_pair_values_to_be_equal":
                unexpected = f"{quote(a)} IS DISTINCT FROM {quote(b)}"
            else:
                sign = ">=" if e.or_equal else ">"
                unexpected = f"NOT coalesce({quote(a)} {sign} {quote(b)}, false)"
            return self._map(e, [a, b], unexpected, ignored)
        if kind == "expect_column_max_to_be_between":
            (highest,) = self.frame.one(f"SELECT max({quote(e.column)}) FROM {relation}")
            limit = (
                datetime.fromisoformat(e.max_value) if isinstance(e.max_value, str) else e.max_value
            )
            success = highest is not None and (limit is None or highest <= limit)
            return self._item(e, success, {"observed_value": _value(highest)})
        if kind == "expect_table_row_count_to_be_between":
            rows = self.frame.rows
            low, high = e.min_value, e.max_value
            success = (low is None or rows >= low) and (high is None or rows <= high)
            return self._item(e, success, {"observed_value": rows})
        if kind == "expect_column_distinct_values_to_contain_set":
            found = {
                row[0]
                for row in self.frame.all(
                    f"SELECT DISTINCT {quote(e.column)} FROM {relation} "
                    f"WHERE {quote(e.column)} IS NOT NULL"
                )
            }
            missing = sorted(set(e.value_set) - found)
            observed = sorted(found) if not missing else None
            result = {"observed_value": observed, "partial_missing_list": missing}
            if missing:
                result["missing_count"] = len(missing)
            return self._item(e, not missing, result)
        raise NotImplementedError(f"{kind} has no SQL evaluation")


def suite_document(
    check: str, items: list[dict[str, Any]], engine: str = StoredFrame.engine
) -> dict[str, Any]:
    """The stored record of a SQL evaluation, shaped as GX's validation result."""
    return json.loads(
        json.dumps(
            {
                "suite_name": check,
                "engine": f"{engine} over the stored Parquet frame",
                "success": all(item["success"] for item in items),
                "results": items,
            },
            default=str,
        )
    )
