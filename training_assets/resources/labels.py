"""The labelled driver orders: a tab-separated file of event time, driver id and label."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg
import pandas as pd

from training_assets.schema import ENTITY_KEY, EVENT_TIMESTAMP, LABEL_COLUMNS, TARGET

if TYPE_CHECKING:
    import pyarrow as pa


class LabelsError(ValueError):
    """The labels file cannot be used; the message names the file, column and value."""


class LabelsResource(dg.ConfigurableResource):
    """Where the labels are. Timestamps without a timezone are read as UTC."""

    path: str
    separator: str = "\t"

    def read(self) -> pd.DataFrame:
        path = Path(self.path)
        if not path.is_file():
            raise LabelsError(f"Labels file not found: {path} (setting TRAINING_LABELS_PATH).")
        try:
            frame = pd.read_csv(path, sep=self.separator, dtype={ENTITY_KEY: "int64"})
        except (ValueError, pd.errors.ParserError) as error:
            raise LabelsError(f"Cannot read labels file {path}: {error}") from error
        missing = [column for column in LABEL_COLUMNS if column not in frame.columns]
        if missing:
            raise LabelsError(
                f"Labels file {path} lacks column(s) {missing}; found {list(frame.columns)}. "
                f"Expected a {self.separator!r}-separated file with columns {list(LABEL_COLUMNS)}."
            )
        if frame.empty:
            raise LabelsError(f"Labels file {path} has a header but no rows.")
        frame = frame[list(LABEL_COLUMNS)]
        frame[EVENT_TIMESTAMP] = _utc_timestamps(frame[EVENT_TIMESTAMP], path)
        frame[TARGET] = _integer_labels(frame[TARGET], path)
        return frame

    def read_arrow(self) -> pa.Table:
        """The same rows and types as `read`, as Arrow, parsed by Arrow's multi-threaded CSV
        reader (10M rows: ~1 s instead of ~28 s). Files the fast reader does not take as they
        are (timestamps without a zone, labels like `1.0`, missing columns, ...) go through
        `read`, so the result and the error messages are the same."""
        import pyarrow as pa
        import pyarrow.csv as pa_csv

        path = Path(self.path)
        if not path.is_file():
            raise LabelsError(f"Labels file not found: {path} (setting TRAINING_LABELS_PATH).")
        types = {
            EVENT_TIMESTAMP: pa.timestamp("us", tz="UTC"),
            ENTITY_KEY: pa.int64(),
            TARGET: pa.int64(),
        }
        try:
            table = pa_csv.read_csv(
                path,
                parse_options=pa_csv.ParseOptions(delimiter=self.separator),
                convert_options=pa_csv.ConvertOptions(
                    column_types=types,
                    include_columns=list(LABEL_COLUMNS),
                ),
            )
        except (pa.ArrowInvalid, pa.ArrowKeyError):
            table = None
        if table is None or table.num_rows == 0 or any(c.null_count for c in table.columns):
            return pa.Table.from_pandas(self.read(), preserve_index=False)
        return table


def _utc_timestamps(values: pd.Series, path: Path) -> pd.Series:
    """Parse ISO-8601 timestamps to UTC; those without a zone are taken as UTC, with a warning.

    Each kind is parsed on its own: given a mix, `pd.to_datetime(..., utc=True)` applies the
    first value's offset to the zone-less ones (pandas 2.3), silently shifting them.
    """
    text = values.astype(str).str.strip()
    has_zone = text.str.contains(r"(?:Z|[+-]\d{2}:?\d{2})$", regex=True)
    parsed = pd.Series(pd.NaT, index=values.index, dtype="datetime64[us, UTC]")
    try:
        if has_zone.any():
            parsed[has_zone] = pd.to_datetime(text[has_zone], format="ISO8601", utc=True)
        if not has_zone.all():
            naive = pd.to_datetime(text[~has_zone], format="ISO8601")
            parsed[~has_zone] = naive.dt.tz_localize("UTC")
    except (ValueError, TypeError) as error:
        raise LabelsError(
            f"Labels file {path}, column {EVENT_TIMESTAMP!r}: unparseable timestamp ({error})."
        ) from error
    if not has_zone.all():
        dg.get_dagster_logger().warning(
            f"Labels file {path}: {int((~has_zone).sum())} timestamp(s) in column "
            f"{EVENT_TIMESTAMP!r} have no timezone, e.g. {text[~has_zone].iloc[0]!r}; "
            "they are taken as UTC."
        )
    return parsed


def _integer_labels(values: pd.Series, path: Path) -> pd.Series:
    numeric = pd.to_numeric(values, errors="coerce")
    bad = values[numeric.isna() | (numeric % 1 != 0)]
    if not bad.empty:
        raise LabelsError(
            f"Labels file {path}, column {TARGET!r}: non-integer values, "
            f"e.g. {bad.head(3).tolist()}."
        )
    return numeric.astype("int64")
