"""Feast's point-in-time join as DuckDB ASOF JOINs over the feature views' Parquet sources.

For every entity row and every feature view this picks what Feast's `duckdb` offline store
picks (feast/infra/offline_stores/ibis.py, `point_in_time_join`):

- the feature row with the same join key(s) and the latest timestamp at or before the
  entity row's event timestamp;
- among rows with that same timestamp, the one with the latest `created` timestamp
  (nulls last); rows equal on both are interchangeable, as in Feast;
- nothing (nulls) when that row is older than the view's ttl (`feature_ts + ttl < event_ts`),
  or when there is no such row, or the entity row's key or timestamp is null;
- every entity row exactly once, duplicates included, in the entity table's order unless
  `order_by` says otherwise.

An ASOF JOIN finds the latest row per key with one sort-merge pass instead of joining every
entity row to every earlier feature row and ranking them, which is what makes Feast's store
slow and memory hungry. This module needs only DuckDB and pyarrow (no `import feast`, which
takes seconds), so the `training_frame` asset and the Feast offline store
(`asof_store.DuckDBAsOfOfflineStore`) run exactly the same SQL.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

ROW_ID = "__feast_asof_row"
EVENT_TS = "__feast_asof_event_ts"


class AsOfJoinError(ValueError):
    """The join cannot be planned; the message names the feature view and column."""


@dataclass(frozen=True)
class FeatureViewSpec:
    """What the join needs to know about one feature view, as plain values (JSON-able)."""

    name: str
    path: str
    timestamp_field: str
    created_timestamp_column: str | None
    # None or 0: no ttl (Feast: `if ttl:`).
    ttl_microseconds: int | None
    # (column in the feature source, column in the entity table) per join key.
    join_keys: tuple[tuple[str, str], ...]
    # (column in the feature source, column in the result) per requested feature.
    features: tuple[tuple[str, str], ...]
    # Feast's `field_mapping`: column in the file -> column name the feature view uses.
    field_mapping: tuple[tuple[str, str], ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> FeatureViewSpec:
        pairs = ("join_keys", "features", "field_mapping")
        return cls(**{k: tuple(map(tuple, v)) if k in pairs else v for k, v in values.items()})

    def with_features(self, names: Iterable[str]) -> FeatureViewSpec:
        """Only the named features (source column names), in the given order."""
        by_source = dict(self.features)
        names = list(names)
        unknown = [name for name in names if name not in by_source]
        if unknown:
            raise AsOfJoinError(
                f"Feature view {self.name!r} has no feature(s) {unknown}; "
                f"it has {sorted(by_source)}."
            )
        return replace(self, features=tuple((name, by_source[name]) for name in names))


@dataclass(frozen=True)
class DuckDBSettings:
    """Resource limits of the DuckDB connection (None: DuckDB's default)."""

    memory_limit: str | None = None
    temp_directory: str | None = None
    threads: int | None = None


@contextmanager
def connect(settings: DuckDBSettings | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
    """An in-memory DuckDB connection with these limits, spilling to a directory of its own
    (under `temp_directory`, else the system's temporary directory) that is removed after."""
    import duckdb

    settings = settings or DuckDBSettings()
    if settings.temp_directory:
        Path(settings.temp_directory).mkdir(parents=True, exist_ok=True)
    spill = tempfile.mkdtemp(prefix="feast-asof-", dir=settings.temp_directory)
    con = duckdb.connect()
    try:
        # Timestamps without a zone are UTC (as Feast treats them), whatever the machine's zone.
        con.execute("SET TimeZone = 'UTC'")
        # Every result this module produces is ordered explicitly.
        con.execute("SET preserve_insertion_order = false")
        con.execute(f"SET temp_directory = {_literal(spill)}")
        if settings.memory_limit:
            con.execute(f"SET memory_limit = {_literal(settings.memory_limit)}")
        if settings.threads:
            con.execute(f"SET threads = {int(settings.threads)}")
        yield con
    finally:
        con.close()
        shutil.rmtree(spill, ignore_errors=True)


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _source_sql(path: str) -> str:
    """A DuckDB table function reading the feature view's Parquet file (or directory)."""
    if os.path.isdir(path):
        path = os.path.join(path, "**", "*.parquet")
    return f"read_parquet({_literal(path)})"


def _source_columns(con: duckdb.DuckDBPyConnection, spec: FeatureViewSpec) -> list[str]:
    try:
        described = con.execute(f"DESCRIBE SELECT * FROM {_source_sql(spec.path)}").fetchall()
    except Exception as error:
        raise AsOfJoinError(
            f"Cannot read the source of feature view {spec.name!r} at {spec.path}: {error}"
        ) from error
    return [row[0] for row in described]


def _view_sql(con: duckdb.DuckDBPyConnection, spec: FeatureViewSpec, index: int) -> str:
    """One row per (join keys, timestamp): the latest `created`, with the needed columns."""
    file_columns = _source_columns(con, spec)
    # field_mapping renames file columns to the names the feature view uses.
    mapping = {old: new for old, new in spec.field_mapping if old in file_columns}
    available = {mapping.get(column, column): column for column in file_columns}

    def column(name: str, role: str) -> str:
        if name not in available:
            raise AsOfJoinError(
                f"Feature view {spec.name!r}: {role} column {name!r} is not in its source "
                f"{spec.path} (columns: {sorted(available)})."
            )
        return _ident(available[name])

    keys = [f"{column(src, 'join key')} AS __k{i}" for i, (src, _) in enumerate(spec.join_keys)]
    timestamp = f"CAST({column(spec.timestamp_field, 'timestamp')} AS TIMESTAMPTZ)"
    values = [f"{column(src, 'feature')} AS __f{i}" for i, (src, _) in enumerate(spec.features)]
    select = ", ".join([*keys, f"{timestamp} AS __ts", *values])
    sql = f"SELECT {select} FROM {_source_sql(spec.path)}"
    if spec.created_timestamp_column:
        created = column(spec.created_timestamp_column, "created timestamp")
        partition = ", ".join([*(f"__k{i}" for i in range(len(spec.join_keys))), "__ts"])
        sql += (
            f" QUALIFY row_number() OVER (PARTITION BY {partition} "
            f"ORDER BY CAST({created} AS TIMESTAMPTZ) DESC NULLS LAST) = 1"
        )
    return f"v{index} AS ({sql})"


def join_sql(
    con: duckdb.DuckDBPyConnection,
    entity: str,
    entity_columns: Sequence[str],
    event_timestamp: str,
    views: Sequence[FeatureViewSpec],
    order_by: Sequence[str] | None = None,
    row_id: str | None = ROW_ID,
    carry_timestamps: dict[str, str] | None = None,
    casts: dict[str, str] | None = None,
) -> str:
    """SQL of the point-in-time join of `views` onto the relation named `entity`.

    The result has `entity_columns` then every view's features, ordered by `order_by`, then
    by the column `row_id` of `entity` (numbering its rows) when given. `carry_timestamps`
    maps a view's name to a column that gets the timestamp of the feature row used (null
    when none, or beyond the ttl), so the result can be checked without repeating the join;
    `casts` maps output columns to SQL types.
    """
    if event_timestamp not in entity_columns:
        raise AsOfJoinError(
            f"The entity rows have no event timestamp column {event_timestamp!r}; "
            f"columns: {list(entity_columns)}."
        )
    outputs: list[str] = []
    ctes = [
        f"e AS (SELECT *, CAST({_ident(event_timestamp)} AS TIMESTAMPTZ) AS {EVENT_TS} "
        f"FROM {entity})"
    ]
    joins = []
    for index, spec in enumerate(views):
        missing = [key for _, key in spec.join_keys if key not in entity_columns]
        if missing:
            raise AsOfJoinError(
                f"Feature view {spec.name!r} joins on {missing}, which the entity rows lack "
                f"(columns: {list(entity_columns)})."
            )
        ctes.append(_view_sql(con, spec, index))
        alias = f"v{index}"
        on = [
            f"e.{_ident(entity_key)} = {alias}.__k{i}"
            for i, (_, entity_key) in enumerate(spec.join_keys)
        ]
        on.append(f"e.{EVENT_TS} >= {alias}.__ts")
        joins.append(f"ASOF LEFT JOIN {alias} ON {' AND '.join(on)}")
        fresh = None
        if spec.ttl_microseconds:
            fresh = f"{alias}.__ts + to_microseconds({int(spec.ttl_microseconds)}) >= e.{EVENT_TS}"
        carried = [(f"{alias}.__ts", (carry_timestamps or {}).get(spec.name))]
        features = [(f"{alias}.__f{i}", output) for i, (_, output) in enumerate(spec.features)]
        for value, output in [*features, *(c for c in carried if c[1])]:
            if fresh:
                value = f"CASE WHEN {fresh} THEN {value} END"
            if output in (casts or {}):
                value = f"CAST({value} AS {casts[output]})"
            outputs.append(f"{value} AS {_ident(output)}")
    names = [*entity_columns, *(output for spec in views for _, output in spec.features)]
    names += [name for name in (carry_timestamps or {}).values()]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise AsOfJoinError(
            f"Column name(s) {duplicates} would appear twice in the result: rename the entity "
            "column(s) or use full feature names."
        )
    order = [*(f"e.{_ident(name)}" for name in order_by or ())]
    if row_id:
        order.append(f"e.{_ident(row_id)}")
    order_sql = f" ORDER BY {', '.join(order)}" if order else ""
    select = ", ".join([*(f"e.{_ident(name)}" for name in entity_columns), *outputs])
    return f"WITH {', '.join(ctes)} SELECT {select} FROM e {' '.join(joins)}{order_sql}"


def with_row_id(table: pa.Table) -> pa.Table:
    """The entity table with ROW_ID appended (no copy of the other columns)."""
    import numpy as np
    import pyarrow as pa

    if ROW_ID in table.column_names:
        raise AsOfJoinError(f"The entity rows must not have a column named {ROW_ID!r}.")
    return table.append_column(ROW_ID, pa.array(np.arange(table.num_rows, dtype=np.int64)))


class PointInTimeJoin:
    """The join of some feature views onto an Arrow table of entity rows, run in DuckDB.

    Rows come in the entity table's order, or sorted by `order_by`; rows equal on `order_by`
    keep the entity table's order unless `stable` is False (cheaper; fine when such rows
    are identical anyway).
    """

    def __init__(
        self,
        entity: pa.Table,
        event_timestamp: str,
        views: Sequence[FeatureViewSpec],
        order_by: Sequence[str] | None = None,
        settings: DuckDBSettings | None = None,
        stable: bool = True,
        carry_timestamps: dict[str, str] | None = None,
        casts: dict[str, str] | None = None,
    ) -> None:
        if not views:
            raise AsOfJoinError("No feature views to join.")
        self.carry_timestamps = dict(carry_timestamps or {})
        self.casts = dict(casts or {})
        self.entity_columns = list(entity.column_names)
        self.row_id = ROW_ID if stable or not order_by else None
        self._entity = with_row_id(entity) if self.row_id else entity
        self.event_timestamp = event_timestamp
        self.views = list(views)
        self.order_by = list(order_by or ())
        self.settings = settings or DuckDBSettings()

    @contextmanager
    def _query(self) -> Iterator[tuple[duckdb.DuckDBPyConnection, str]]:
        with connect(self.settings) as con:
            con.register("__feast_asof_entity", self._entity)
            sql = join_sql(
                con,
                "__feast_asof_entity",
                self.entity_columns,
                self.event_timestamp,
                self.views,
                self.order_by,
                self.row_id,
                self.carry_timestamps,
                self.casts,
            )
            yield con, sql

    def sql(self) -> str:
        with self._query() as (_, sql):
            return sql

    def to_arrow(self) -> pa.Table:
        with self._query() as (con, sql):
            return con.sql(sql).to_arrow_table()

    def stream(
        self, batch_rows: int = 1_000_000
    ) -> tuple[pa.RecordBatchReader, Callable[[], None]]:
        """The result as record batches, read while DuckDB produces them (it never holds the
        whole result); call the returned function to close the connection afterwards."""
        stack = ExitStack()
        con, sql = stack.enter_context(self._query())
        try:
            reader = con.sql(sql).fetch_arrow_reader(batch_rows)
        except BaseException:
            stack.close()
            raise
        return reader, stack.close

    def to_parquet(self, path: str | Path, microsecond_timestamps: bool = False) -> None:
        """Stream the result into one Parquet file (no Arrow or pandas copy in Python).

        `microsecond_timestamps` writes nanosecond timestamp columns (e.g. from a pandas
        entity frame) as microseconds, as Feast's ibis-based stores do: DuckDB cannot
        filter a nanosecond `TIMESTAMPTZ` column read back from Parquet against a timestamp
        (ConversionException), which is what Feast does when it reads a saved dataset.
        """
        with self._query() as (con, sql):
            if microsecond_timestamps:
                sql = _microsecond_timestamps(con, sql)
            con.execute(f"COPY ({sql}) TO {_literal(str(path))} (FORMAT parquet)")


def _microsecond_timestamps(con: duckdb.DuckDBPyConnection, sql: str) -> str:
    """`sql` with its nanosecond timestamp columns cast to microseconds, columns in order."""
    casts = {"TIMESTAMP_NS": "TIMESTAMP", "TIMESTAMPTZ_NS": "TIMESTAMPTZ"}
    columns = [(row[0], row[1]) for row in con.execute(f"DESCRIBE {sql}").fetchall()]
    if not any(kind in casts for _, kind in columns):
        return sql
    select = [
        f"CAST({_ident(name)} AS {casts[kind]}) AS {_ident(name)}"
        if kind in casts
        else _ident(name)
        for name, kind in columns
    ]
    return f"SELECT {', '.join(select)} FROM ({sql})"
