"""The labelled driver orders: a tab-separated file of event time, driver id and label.

Two readers apply the same rules and give the same rows and messages: `read` (pandas, the
whole file at once; the Feast offline-store path) and `read_arrow` (Arrow, streamed block by
block, so a file of hundreds of millions of rows is checked in bounded memory). Every problem is
named with its column, value and line: line = row index + 2 (line 1 is the header; like
pandas, both readers skip blank lines without counting them).
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from training_assets.schema import ENTITY_KEY, EVENT_TIMESTAMP, LABEL_CLASSES, LABEL_COLUMNS, TARGET

# Arrow reads the file in blocks of this many bytes (~100k rows of the sample's format).
_BLOCK_BYTES = 4 << 20
# Bytes scanned at a time for rows with another number of fields (`_odd_lines`), and the most
# short rows padded while streaming (more go through `read`).
_LOCATE_BYTES = 64 << 20
_MAX_SHORT = 100_000
# Bad values quoted in a message; the rest are counted.
_EXAMPLES = 3
# Blocks whose timestamps are all between this and now are taken as Arrow parsed them; a block
# with an earlier one goes through pandas, whose datetime64[ns] range (years 1678-2261) decides.
_EARLIEST_FAST_US = pd.Timestamp("1678-01-01", tz="UTC").value // 1_000


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

    def _check_header(self, path: Path, columns: list[str]) -> None:
        missing = [column for column in LABEL_COLUMNS if column not in columns]
        if missing:
            raise LabelsError(
                f"Labels file {path} lacks column(s) {missing}; found {columns}. "
                f"Expected a {self.separator!r}-separated file with columns {list(LABEL_COLUMNS)}."
                + _separator_hint(columns, self.separator)
            )

    def _read_text(self, path: Path, **options) -> pd.DataFrame:
        # As text, so a bad value can be reported as it is written in the file.
        return pd.read_csv(path, sep=self.separator, dtype=str, keep_default_na=False, **options)

    def read(self) -> pd.DataFrame:
        """The label rows, checked: every problem is named with its column, value and line."""
        path = self._file()
        try:
            frame = self._read_text(path)
        except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as error:
            raise LabelsError(f"Cannot read labels file {path}: {error}") from error
        self._check_header(path, list(frame.columns))
        if frame.empty:
            raise LabelsError(f"Labels file {path} has a header but no rows.")
        findings = _Findings(pd.Timestamp.now(tz="UTC"))
        typed = findings.check(frame[list(LABEL_COLUMNS)])
        findings.finish(path)
        return typed

    def read_arrow(self) -> pa.Table:
        """The same rows, types and messages as `read`, as Arrow, in memory bounded by the
        result: the file is streamed in blocks (`_scan_arrow`). 10M rows in 1-2 s; a 100M-row
        file with one bad value is refused, naming its line, in tens of seconds and well under
        the memory of its rows (benchmarks/bad_labels.py, figures in benchmarks/README.md)."""
        path = self._file()
        try:
            header = self._read_text(path, nrows=0)
        except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as error:
            raise LabelsError(f"Cannot read labels file {path}: {error}") from error
        self._check_header(path, list(header.columns))
        now = pd.Timestamp.now(tz="UTC")
        parse_error = False
        try:
            findings, table = self._scan_arrow(path, now)
        except (pa.ArrowInvalid, pa.ArrowKeyError) as error:
            # Not raised here: the messages below would otherwise carry Arrow's traceback
            # (printed twice by Dagster).
            findings, parse_error = None, "CSV parse error" in str(error)
        if parse_error:
            # A row with another number of fields than the header: find it (`_odd_lines`).
            odd = _odd_lines(path, self.separator)
            if odd is not None and odd.too_many is not None:
                line, fields = odd.too_many
                # pandas' tokenizer stops there, so `read` says this (its words, checked
                # against it in test_labels.py).
                raise LabelsError(
                    f"Cannot read labels file {path}: Error tokenizing data. C error: Expected "
                    f"{odd.fields} fields in line {line}, saw {fields}\n"
                )
            if odd is not None and odd.short:
                # pandas fills the missing fields of short rows with "": so does the stream.
                try:
                    with _Padded(path, odd.short, self.separator) as padded:
                        findings, table = self._scan_arrow(padded, now)
                except (pa.ArrowInvalid, pa.ArrowKeyError):
                    findings = None
        if findings is None:
            # Anything else Arrow does not tokenize as pandas does (invalid UTF-8, quotes,
            # carriage returns, ...): `read` says what. It holds the whole file as text
            # (~14 GB at 100M rows).
            return pa.Table.from_pandas(self.read(), _SCHEMA, preserve_index=False)
        if findings.rows == 0:
            raise LabelsError(f"Labels file {path} has a header but no rows.")
        findings.finish(path)
        return table

    def _scan_arrow(self, path, now: pd.Timestamp) -> tuple[_Findings, pa.Table | None]:
        """Stream the file as text with Arrow. A block is taken as Arrow casts it when every
        value casts and lies in its domain (labels in LABEL_CLASSES, timestamps with a zone and
        not in the future): the cost is a few vectorised casts per block. Any other block goes
        through `_Findings.check`, the pandas rules of `read`, which find and count its bad
        values; pandas is kept there because its parsing decides what a message says: which
        values are not ISO-8601 (years 1678-2261), whole numbers written as `1.0` or ` 1`, and
        timestamps without a zone (taken as UTC with a warning; kinds mixed in one block are
        parsed apart, see `_utc_timestamps`). Only such blocks pay for pandas: a few hundred ms
        each. Arrow's casts also take a few forms `read` does not (hexadecimal integers such as
        `0x10`, which it refuses; hour-only offsets such as `+02`, on which it fails), as the
        whole-file Arrow read before this one did. Raises Arrow's error when the file does not
        tokenize as Arrow reads it (wrong number of fields, invalid UTF-8, ...)."""
        reader = pa_csv.open_csv(
            path,
            read_options=pa_csv.ReadOptions(block_size=_BLOCK_BYTES),
            parse_options=pa_csv.ParseOptions(delimiter=self.separator),
            convert_options=pa_csv.ConvertOptions(
                column_types=dict.fromkeys(LABEL_COLUMNS, pa.string()),
                include_columns=list(LABEL_COLUMNS),
            ),
        )
        findings = _Findings(now)
        batches: list[pa.RecordBatch] = []
        for batch in reader:
            typed = _cast_block(batch, now)
            if typed is None:
                frame = batch.to_pandas()
                frame.index = pd.RangeIndex(findings.rows, findings.rows + len(frame))
                checked = findings.check(frame)
                if checked is not None:
                    typed = pa.RecordBatch.from_pandas(
                        checked, schema=_SCHEMA, preserve_index=False
                    )
            else:
                findings.rows += typed.num_rows
            if findings.refused:
                batches.clear()  # only the count and the first values are needed from here on
            elif typed is not None:
                batches.append(typed)
        return findings, None if findings.refused else pa.Table.from_batches(batches, _SCHEMA)


_SCHEMA = pa.schema(
    [
        (EVENT_TIMESTAMP, pa.timestamp("us", tz="UTC")),
        (ENTITY_KEY, pa.int64()),
        (TARGET, pa.int64()),
    ]
)
_CLASSES = pa.array(LABEL_CLASSES, pa.int64())
_PANDAS_TIMESTAMP = "datetime64[us, UTC]"


def _cast_block(batch: pa.RecordBatch, now: pd.Timestamp) -> pa.RecordBatch | None:
    """The block typed by Arrow's casts, or None when a value does not cast or lies outside its
    domain (then pandas' rules decide, in `_Findings.check`)."""
    if batch.num_rows == 0:
        return None
    try:
        columns = [batch.column(i).cast(_SCHEMA.field(i).type) for i in range(3)]
    except pa.ArrowInvalid:
        return None
    # Compared as microseconds: Arrow holds years Python's datetime cannot.
    span = pc.min_max(columns[0].cast(pa.int64()))
    if span["min"].as_py() < _EARLIEST_FAST_US or span["max"].as_py() > _microseconds(now):
        return None
    if not pc.all(pc.is_in(columns[2], value_set=_CLASSES)).as_py():
        return None
    return pa.RecordBatch.from_arrays(columns, schema=_SCHEMA)


@dataclass
class _OddLines:
    """Lines of the file with another number of fields than its header's."""

    fields: int  # the header's
    too_many: tuple[int, int] | None  # the first: (line, fields)
    short: list[tuple[int, int]]  # (offset of the line's end, fields missing)


def _odd_lines(path: Path, separator: str) -> _OddLines | None:
    """Where rows have too many or too few fields, found with numpy a few MB at a time: the
    first line with too many (pandas' tokenizer refuses it; line numbers count every line, as
    pandas' do), and the end of each line with too few. None when pandas and this count
    could differ: quotes or carriage returns in the file, a short line starting with a space
    (pandas may take it as blank), more than _MAX_SHORT short lines, or an over-long first
    row (pandas then takes its first field as the index)."""
    if len(separator.encode()) != 1:
        return None
    delimiter = separator.encode()[0]
    with open(path, "rb") as handle:
        header = handle.readline()
        if b'"' in header or b"\r" in header:
            return None
        odd = _OddLines(fields=header.count(delimiter) + 1, too_many=None, short=[])
        line, offset, carry, first_row = 1, len(header), b"", True
        while True:
            chunk = handle.read(_LOCATE_BYTES)
            data = carry + chunk
            if not chunk:
                if not data:
                    return odd
                data += b"\n"  # the last line has no newline
            buffer = np.frombuffer(data, np.uint8)
            if (buffer == ord('"')).any() or (buffer == ord("\r")).any():
                return None
            ends = np.flatnonzero(buffer == ord("\n"))
            if not len(ends):
                carry = data
                continue
            starts = np.concatenate(([0], ends[:-1] + 1))
            delimiters = np.flatnonzero(buffer[: ends[-1]] == delimiter)
            fields = np.searchsorted(delimiters, ends) - np.searchsorted(delimiters, starts) + 1
            rows = ends > starts  # pandas and Arrow skip empty lines
            if first_row and rows.any():
                first_row = False
                if fields[np.argmax(rows)] > odd.fields:
                    return None
            over = np.flatnonzero(rows & (fields > odd.fields))
            if len(over):
                odd.too_many = (line + 1 + int(over[0]), int(fields[over[0]]))
                return odd
            under = np.flatnonzero(rows & (fields < odd.fields))
            if (buffer[starts[under]] == ord(" ")).any():
                return None
            # Padding goes before the line's newline (or at the end of the file).
            odd.short += zip(
                (offset + ends[under]).tolist(),
                (odd.fields - fields[under]).tolist(),
                strict=True,
            )
            if len(odd.short) > _MAX_SHORT:
                return None
            line += len(ends)
            offset += int(ends[-1]) + 1
            carry = data[ends[-1] + 1 :]
            if not chunk:
                return odd


class _Padded(io.RawIOBase):
    """The file with separators appended to its short lines, read as a stream."""

    def __init__(self, path: Path, short: list[tuple[int, int]], separator: str) -> None:
        self._file = open(path, "rb")  # noqa: SIM115 (closed with the stream)
        self._inserts = [(at, separator.encode() * missing) for at, missing in short]
        self._next, self._position, self._pending = 0, 0, b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if not self._pending:
            want = len(buffer)
            if self._next < len(self._inserts):
                at, padding = self._inserts[self._next]
                if at <= self._position + want:
                    self._pending = self._file.read(at - self._position) + padding
                    self._next += 1
                    self._position = at
            if not self._pending:
                self._pending = self._file.read(want)
                self._position += len(self._pending)
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size

    def close(self) -> None:
        self._file.close()
        super().close()


def _microseconds(timestamp: pd.Timestamp) -> int:
    return timestamp.value // 1_000


@dataclass
class _Bad:
    """Bad values of one kind over the whole file: how many, and the first ones by row."""

    count: int = 0
    first: list[pd.Series] = field(default_factory=list)

    def add(self, bad: pd.Series) -> None:
        if bad.empty:
            return
        shown = sum(len(part) for part in self.first)
        if shown < _EXAMPLES:
            self.first.append(bad.head(_EXAMPLES - shown))
        self.count += len(bad)

    def examples(self) -> str:
        """`'x' (line 5), ...`: file lines of the first bad values (line 1 is the header)."""
        values = pd.concat(self.first)
        shown = ", ".join(f"{value!r} (line {index + 2})" for index, value in values.items())
        more = self.count - len(values)
        return shown + (f" and {more} more" if more > 0 else "")


@dataclass
class _Findings:
    """What `read`'s rules find in the rows seen so far, gathered block by block: pandas'
    parsing is per value, so checking the file in blocks finds what checking it whole does."""

    now: pd.Timestamp
    rows: int = 0
    unparseable: _Bad = field(default_factory=_Bad)
    future: _Bad = field(default_factory=_Bad)
    zoneless: _Bad = field(default_factory=_Bad)
    drivers: _Bad = field(default_factory=_Bad)
    labels: _Bad = field(default_factory=_Bad)
    outside: _Bad = field(default_factory=_Bad)

    @property
    def refused(self) -> bool:
        return any(
            bad.count
            for bad in (self.unparseable, self.future, self.drivers, self.labels, self.outside)
        )

    def check(self, frame: pd.DataFrame) -> pd.DataFrame | None:
        """Check rows of text (index = row number in the file from 0); the rows typed, or None
        when one of them is bad."""
        self.rows += len(frame)
        timestamps, text, has_zone = _utc_timestamps(frame[EVENT_TIMESTAMP])
        self.unparseable.add(text[timestamps.isna()])
        self.future.add(text[timestamps > self.now])
        self.zoneless.add(text[~has_zone])
        drivers, whole = _integers(frame[ENTITY_KEY])
        self.drivers.add(frame[ENTITY_KEY][~whole])
        labels, whole = _integers(frame[TARGET])
        self.labels.add(frame[TARGET][~whole])
        # Reported only when every label is a whole number, as `read` checks them in turn.
        self.outside.add(frame[TARGET][whole & ~labels.isin(LABEL_CLASSES)])
        if self.refused:
            return None
        return pd.DataFrame(
            {
                EVENT_TIMESTAMP: timestamps,
                ENTITY_KEY: drivers.astype("int64"),
                TARGET: labels.astype("int64"),
            }
        )

    def finish(self, path: Path) -> None:
        """Raise for the first problem in `read`'s order; warn about zone-less timestamps."""
        column = f"Labels file {path}, column"
        if self.unparseable.count:
            raise LabelsError(
                f"{column} {EVENT_TIMESTAMP!r}: {self.unparseable.count} value(s) are "
                "not ISO-8601 timestamps of years 1678-2261, "
                f"e.g. {self.unparseable.examples()}."
            )
        if self.future.count:
            raise LabelsError(
                f"{column} {EVENT_TIMESTAMP!r}: {self.future.count} timestamp(s) are "
                f"in the future, e.g. {self.future.examples()}."
            )
        if self.zoneless.count:
            dg.get_dagster_logger().warning(
                f"Labels file {path}: {self.zoneless.count} timestamp(s) in column "
                f"{EVENT_TIMESTAMP!r} have no timezone, e.g. {self.zoneless.first[0].iloc[0]!r}; "
                "they are taken as UTC."
            )
        for name, bad in ((ENTITY_KEY, self.drivers), (TARGET, self.labels)):
            if bad.count:
                raise LabelsError(
                    f"{column} {name!r}: {bad.count} value(s) are not whole "
                    f"numbers, e.g. {bad.examples()}."
                )
        if self.outside.count:
            raise LabelsError(
                f"{column} {TARGET!r}: {self.outside.count} value(s) outside "
                f"{{{', '.join(map(str, LABEL_CLASSES))}}}, e.g. {self.outside.examples()}."
            )


def _separator_hint(header: list[str], separator: str) -> str:
    if len(header) != 1:
        return ""
    for candidate in (",", ";", "|", "\t", " "):
        if candidate != separator and candidate in header[0]:
            return f" The header looks {candidate!r}-separated."
    return ""


def _utc_timestamps(values: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series]:
    """ISO-8601 timestamps parsed to UTC (NaT where they do not parse), the stripped text, and
    which have a zone; those without one are taken as UTC.

    Each kind is parsed on its own: given a mix, `pd.to_datetime(..., utc=True)` applies the
    first value's offset to the zone-less ones (pandas 2.3), silently shifting them.
    Microseconds, as Arrow reads them: finer fractions (pandas parses to ns) are truncated.
    """
    text = values.astype(str).str.strip()
    has_zone = text.str.contains(r"(?:Z|[+-]\d{2}:?\d{2})$", regex=True)
    parsed = pd.Series(pd.NaT, index=values.index, dtype=_PANDAS_TIMESTAMP)
    if has_zone.any():
        zoned = pd.to_datetime(text[has_zone], format="ISO8601", utc=True, errors="coerce")
        parsed[has_zone] = zoned.astype(_PANDAS_TIMESTAMP)
    if not has_zone.all():
        naive = pd.to_datetime(text[~has_zone], format="ISO8601", errors="coerce")
        parsed[~has_zone] = naive.dt.tz_localize("UTC").astype(_PANDAS_TIMESTAMP)
    return parsed, text, has_zone


def _integers(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """The values as numbers, and which of them are whole numbers."""
    numeric = pd.to_numeric(values.str.strip(), errors="coerce")
    return numeric, numeric.notna() & (numeric % 1 == 0)
