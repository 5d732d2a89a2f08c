"""How DuckDB's SQL names a column and writes a value: shared by the SQL checks' DuckDB
backend (`sql_engine.py`) and the feature source's index (`source_index.py`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def literal(value: Any) -> str:
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, datetime):
        return f"TIMESTAMPTZ '{value.isoformat()}'"
    return repr(value)
