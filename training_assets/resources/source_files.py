"""Fingerprints of the input files: a content hash plus what a person wants to see of them."""

import hashlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

_CHUNK = 8 * 1024 * 1024


def content_hash(path: Path) -> str:
    """sha256 of the bytes, streamed: about a second per GB, memory flat."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()[:16]


def _modified(path: Path) -> str:
    return datetime.fromtimestamp(path.stat().st_mtime, UTC).isoformat(timespec="seconds")


def labels_summary(path: Path, timestamp_column: str, separator: str = "\t") -> dict[str, Any]:
    table = pa_csv.read_csv(
        path,
        parse_options=pa_csv.ParseOptions(delimiter=separator),
        convert_options=pa_csv.ConvertOptions(
            include_columns=[timestamp_column], column_types={timestamp_column: "string"}
        ),
    )
    # ISO-8601 strings of one format sort like the times they name.
    times = table[timestamp_column]
    return {
        "rows": table.num_rows,
        "first_event": str(pc.min(times)),
        "last_event": str(pc.max(times)),
        "last_modified": _modified(path),
    }


def parquet_summary(path: Path, timestamp_column: str) -> dict[str, Any]:
    """Rows and time range from the Parquet footer alone (row-group statistics)."""
    metadata = pq.ParquetFile(path).metadata
    column = metadata.schema.names.index(timestamp_column)
    stats = [
        metadata.row_group(i).column(column).statistics for i in range(metadata.num_row_groups)
    ]
    known = [s for s in stats if s is not None and s.has_min_max]
    return {
        "rows": metadata.num_rows,
        "first_event": str(min(s.min for s in known)) if known else "",
        "last_event": str(max(s.max for s in known)) if known else "",
        "last_modified": _modified(path),
    }


class FeatureSourceResource(dg.ConfigurableResource):
    """The Parquet file Feast reads driver_stats from (the same DRIVER_STATS_PATH setting)."""

    path: str
    timestamp_field: str = "datetime"
