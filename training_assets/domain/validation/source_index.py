"""The feature source as the out-of-core leakage proof reads it, kept between runs.

The proof needs each source row once per (driver, timestamp), the latest `created` winning
ties as in Feast, with the timestamp of the driver's next row (`__next`): a frame row whose
carried feature timestamp is `t` took the right row iff `t <= event < __next`. Building it
costs two window passes over the source (~6 s of the check's ~11 s at 10M feature rows,
measured); a feature source changes far less often than the labels, so the result is written
once per source version, next to the asset storage, and later runs read it back (~0.5 s).
It is derived from the source file alone, never from the training frame or its join, so the
proof stays independent of what it checks. A source version is its path, size,
modification time and the bytes of its Parquet footer (its row groups' statistics); a new
version replaces the old entry of the same path.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from training_assets.domain.validation.duckdb_dialect import literal, quote
from training_assets.domain.validation.leakage import FeatureSource
from training_assets.schema import ENTITY_KEY, FEATURES

if TYPE_CHECKING:
    import duckdb

RELATION = "source_next"
_FOOTER_BYTES = 64 << 10


def index_sql(
    source: FeatureSource,
    quoted: Callable[[str], str] = quote,
    timestamp_type: str = "TIMESTAMPTZ",
    relation: str | None = None,
) -> str:
    """The source's rows, one per (driver, timestamp), with the next timestamp of the driver.
    Plain SQL that DuckDB and Spark SQL both run (their quoting, timestamp type and Parquet
    relation given; DuckDB's by default)."""
    relation = relation or f"read_parquet({literal(source.path)})"
    created = (
        f"CAST({quoted(source.created_column)} AS {timestamp_type})"
        if source.created_column
        else "NULL"
    )
    key, features = quoted(ENTITY_KEY), ", ".join(quoted(n) for n in FEATURES)
    return f"""
        SELECT *, lead(__ts) OVER (PARTITION BY {key} ORDER BY __ts) AS __next
        FROM (
          SELECT {key}, __ts, {features} FROM (
            SELECT *, row_number() OVER (
                PARTITION BY {key}, __ts ORDER BY __created DESC NULLS LAST) AS __rank
            FROM (
              SELECT {key}, CAST({quoted(source.timestamp_field)} AS {timestamp_type}) AS __ts,
                     {created} AS __created, {features}
              FROM {relation}
            ) AS source_rows
          ) AS ranked WHERE __rank = 1
        ) AS latest
    """


def source_version(source: FeatureSource) -> str:
    """A key that changes whenever the source file or how it is read does."""
    path = Path(source.path)
    status = path.stat()
    with path.open("rb") as file:
        file.seek(max(0, status.st_size - _FOOTER_BYTES))
        footer = hashlib.sha256(file.read()).hexdigest()
    described = [
        str(path.resolve()),
        status.st_size,
        status.st_mtime_ns,
        footer,
        source.timestamp_field,
        source.created_column,
        list(FEATURES),
    ]
    return hashlib.sha256(json.dumps(described).encode()).hexdigest()[:24]


def create_source_index(
    con: duckdb.DuckDBPyConnection, source: FeatureSource, cache_dir: Path | None
) -> None:
    """Make `source_next` on `con`: read from the cache when this source version is in it,
    else computed (and, with a `cache_dir`, stored for the next run)."""
    if cache_dir is None:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {RELATION} AS {index_sql(source)}")
        return
    prefix = hashlib.sha256(str(Path(source.path).resolve()).encode()).hexdigest()[:16]
    cached = cache_dir / f"{prefix}-{source_version(source)}.parquet"
    if not cached.exists():
        cache_dir.mkdir(parents=True, exist_ok=True)
        partial = cached.with_name(f".{cached.name}.{os.getpid()}.tmp")
        try:
            con.execute(f"COPY ({index_sql(source)}) TO {literal(str(partial))} (FORMAT parquet)")
            os.replace(partial, cached)  # whole or not at all; concurrent runs write the same
        finally:
            partial.unlink(missing_ok=True)
        for older in cache_dir.glob(f"{prefix}-*.parquet"):
            if older != cached:
                older.unlink(missing_ok=True)
    reader = f"read_parquet({literal(str(cached))})"
    con.execute(f"CREATE OR REPLACE VIEW {RELATION} AS SELECT * FROM {reader}")
