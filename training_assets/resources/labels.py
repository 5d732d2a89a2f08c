"""The labelled driver orders: a tab-separated file of event time, driver id and label."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg
import pandas as pd

from training_assets.schema import ENTITY_KEY, EVENT_TIMESTAMP, LABEL_CLASSES, LABEL_COLUMNS, TARGET

if TYPE_CHECKING:
    import pyarrow as pa


class LabelsError(ValueError):
    """The labels file cannot be used; the message names the file, column and value."""


class LabelsResource(dg.ConfigurableResource):
    """Where the labels are. Timestamps without a timezone are read as UTC."""

    path: str
    separator: str = "\t"

    def _file(self) -> Path:
        path = Path(self.path)
        if not path.is_file():
            what = "is a directory, not a file" if path.is_dir() else "not found"
            raise LabelsError(f"Labels file {what}: {path} (setting TRAINING_LABELS_PATH).")
        return path

    def read(self) -> pd.DataFrame:
        """The label rows, checked: every problem is named with its column, value and line."""
        path = self._file()
        try:
            # As text, so a bad value can be reported as it is written in the file.
            frame = pd.read_csv(path, sep=self.separator, dtype=str, keep_default_na=False)
        except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as error:
            raise LabelsError(f"Cannot read labels file {path}: {error}") from error
        missing = [column for column in LABEL_COLUMNS if column not in frame.columns]
        if missing:
            raise LabelsError(
                f"Labels file {path} lacks column(s) {missing}; found {list(frame.columns)}. "
                f"Expected a {self.separator!r}-separated file with columns {list(LABEL_COLUMNS)}."
                + _separator_hint(list(frame.columns), self.separator)
            )
        if frame.empty:
            raise LabelsError(f"Labels file {path} has a header but no rows.")
        frame = frame[list(LABEL_COLUMNS)]
        frame[EVENT_TIMESTAMP] = _utc_timestamps(frame[EVENT_TIMESTAMP], path)
        frame[ENTITY_KEY] = _integers(frame[ENTITY_KEY], path)
        frame[TARGET] = _labels(frame[TARGET], path)
        return frame

    def read_arrow(self) -> pa.Table:
        """The same rows and types as `read`, as Arrow, parsed by Arrow's multi-threaded CSV
        reader (10M rows: ~1 s instead of ~28 s). Files the fast reader does not take as they
        are (timestamps without a zone, labels like `1.0`, missing columns, bad values, ...)
        go through `read`, so the result and the error messages are the same."""
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.csv as pa_csv

        path = self._file()
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
            table = None  # not read here: `read` below, outside this handler, says why
        if table is None or table.num_rows == 0 or any(c.null_count for c in table.columns):
            # Outside the `except`: its error would otherwise chain Arrow's traceback onto
            # the clear message (printed twice by Dagster).
            return pa.Table.from_pandas(self.read(), preserve_index=False)
        labels = pc.min_max(table[TARGET])
        latest = pc.max(table[EVENT_TIMESTAMP]).as_py()
        if (
            labels["min"].as_py() not in LABEL_CLASSES
            or labels["max"].as_py() not in LABEL_CLASSES
            or latest > datetime.now(UTC)
        ):
            self.read()  # raises, naming the values and lines
        return table


def _lines(bad: pd.Series, limit: int = 3) -> str:
    """`'x' (line 5), ...`: file lines of the first bad values (line 1 is the header)."""
    shown = ", ".join(f"{value!r} (line {index + 2})" for index, value in bad.head(limit).items())
    more = len(bad) - limit
    return shown + (f" and {more} more" if more > 0 else "")


def _separator_hint(header: list[str], separator: str) -> str:
    if len(header) != 1:
        return ""
    for candidate in (",", ";", "|", "\t", " "):
        if candidate != separator and candidate in header[0]:
            return f" The header looks {candidate!r}-separated."
    return ""


def _utc_timestamps(values: pd.Series, path: Path) -> pd.Series:
    """Parse ISO-8601 timestamps to UTC; those without a zone are taken as UTC, with a warning.

    Each kind is parsed on its own: given a mix, `pd.to_datetime(..., utc=True)` applies the
    first value's offset to the zone-less ones (pandas 2.3), silently shifting them.
    Timestamps after now are refused: a label cannot have happened yet.
    """
    text = values.astype(str).str.strip()
    has_zone = text.str.contains(r"(?:Z|[+-]\d{2}:?\d{2})$", regex=True)
    parsed = pd.Series(pd.NaT, index=values.index, dtype="datetime64[us, UTC]")
    if has_zone.any():
        parsed[has_zone] = pd.to_datetime(
            text[has_zone], format="ISO8601", utc=True, errors="coerce"
        )
    if not has_zone.all():
        naive = pd.to_datetime(text[~has_zone], format="ISO8601", errors="coerce")
        parsed[~has_zone] = naive.dt.tz_localize("UTC")
    unparseable = text[parsed.isna()]
    if not unparseable.empty:
        raise LabelsError(
            f"Labels file {path}, column {EVENT_TIMESTAMP!r}: {len(unparseable)} value(s) are "
            f"not ISO-8601 timestamps of years 1678-2261, e.g. {_lines(unparseable)}."
        )
    future = text[parsed > pd.Timestamp.now(tz="UTC")]
    if not future.empty:
        raise LabelsError(
            f"Labels file {path}, column {EVENT_TIMESTAMP!r}: {len(future)} timestamp(s) are "
            f"in the future, e.g. {_lines(future)}."
        )
    if not has_zone.all():
        dg.get_dagster_logger().warning(
            f"Labels file {path}: {int((~has_zone).sum())} timestamp(s) in column "
            f"{EVENT_TIMESTAMP!r} have no timezone, e.g. {text[~has_zone].iloc[0]!r}; "
            "they are taken as UTC."
        )
    return parsed


def _integers(values: pd.Series, path: Path, column: str = ENTITY_KEY) -> pd.Series:
    numeric = pd.to_numeric(values.str.strip(), errors="coerce")
    bad = values[numeric.isna() | (numeric % 1 != 0)]
    if not bad.empty:
        raise LabelsError(
            f"Labels file {path}, column {column!r}: {len(bad)} value(s) are not whole "
            f"numbers, e.g. {_lines(bad)}."
        )
    return numeric.astype("int64")


def _labels(values: pd.Series, path: Path) -> pd.Series:
    labels = _integers(values, path, TARGET)
    outside = values[~labels.isin(LABEL_CLASSES)]
    if not outside.empty:
        raise LabelsError(
            f"Labels file {path}, column {TARGET!r}: {len(outside)} value(s) outside "
            f"{{{', '.join(map(str, LABEL_CLASSES))}}}, e.g. {_lines(outside)}."
        )
    return labels
