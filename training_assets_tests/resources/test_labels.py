from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from training_assets.resources import labels as labels_module
from training_assets.resources.labels import LabelsError, LabelsResource


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_reads_tab_separated_labels_as_utc(tmp_path):
    path = write(
        tmp_path / "orders.csv",
        "event_timestamp\tdriver_id\ttrip_completed\n"
        "2026-01-01T10:00:00+02:00\t1001\t1\n"
        "2026-01-01 09:00:00\t1002\t0\n",
    )
    frame = LabelsResource(path=str(path)).read()
    assert list(frame.columns) == ["event_timestamp", "driver_id", "trip_completed"]
    assert str(frame.event_timestamp.dtype) == "datetime64[us, UTC]"
    # +02:00 is converted; a timestamp without zone is taken as UTC.
    assert frame.event_timestamp.tolist() == [
        pd.Timestamp("2026-01-01T08:00:00Z"),
        pd.Timestamp("2026-01-01T09:00:00Z"),
    ]
    assert frame.trip_completed.dtype == "int64"


HEADER = "event_timestamp\tdriver_id\ttrip_completed\n"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (HEADER, "has a header but no rows"),
        (
            "event_timestamp,driver_id,trip_completed\n2026-01-01,1,1\n",
            "lacks column(s) ['event_timestamp', 'driver_id', 'trip_completed']; found "
            "['event_timestamp,driver_id,trip_completed']. Expected a '\\t'-separated file with "
            "columns ['event_timestamp', 'driver_id', 'trip_completed']. "
            "The header looks ','-separated.",
        ),
        ("event_timestamp\tdriver_id\n2026-01-01\t1\n", "['trip_completed']"),
        (
            HEADER + "2026-01-01T00:00:00Z\t1\t1\nyesterday\t1\t1\n",
            "column 'event_timestamp': 1 value(s) are not ISO-8601 timestamps of years 1678-2261, "
            "e.g. 'yesterday' (line 3).",
        ),
        (
            HEADER + "2100-01-01T00:00:00Z\t1\t1\n",
            "column 'event_timestamp': 1 timestamp(s) are in the future, "
            "e.g. '2100-01-01T00:00:00Z' (line 2).",
        ),
        (
            HEADER + "2026-01-01T00:00:00Z\tseven\t1\n",
            "column 'driver_id': 1 value(s) are not whole numbers, e.g. 'seven' (line 2).",
        ),
        (
            HEADER + "2026-01-01T00:00:00Z\t1\tyes\n2026-01-01T00:00:00Z\t1\t\n",
            "column 'trip_completed': 2 value(s) are not whole numbers, "
            "e.g. 'yes' (line 2), '' (line 3).",
        ),
        (HEADER + "2026-01-01T00:00:00Z\t1\t0.5\n", "e.g. '0.5' (line 2)"),
        (
            HEADER + "2026-01-01T00:00:00Z\t1\t1\n" * 4 + "2026-01-01T00:00:00Z\t1\t5\n",
            "column 'trip_completed': 1 value(s) outside {0, 1}, e.g. '5' (line 6).",
        ),
    ],
)
@pytest.mark.parametrize("reader", ["read", "read_arrow"])
def test_bad_labels_are_refused_naming_the_file_and_what_is_wrong(
    tmp_path, content, message, reader
):
    path = write(tmp_path / "orders.csv", content)
    with pytest.raises(LabelsError) as error:
        getattr(LabelsResource(path=str(path)), reader)()
    assert str(path) in str(error.value)
    assert message in str(error.value)


def test_missing_file_names_the_setting(tmp_path):
    with pytest.raises(LabelsError, match="TRAINING_LABELS_PATH"):
        LabelsResource(path=str(tmp_path / "nope.csv")).read()


def test_a_directory_is_not_a_labels_file(tmp_path):
    with pytest.raises(LabelsError, match=r"is a directory, not a file.*TRAINING_LABELS_PATH"):
        LabelsResource(path=str(tmp_path)).read_arrow()


# ---- `read_arrow` streams the file in blocks: same rows and messages as `read` ----------

GOOD = "2026-01-01T00:00:00+00:00\t1001\t1\n"


def outcome(reader) -> tuple[str, object]:
    """A reader's rows as an Arrow table, or its message."""
    try:
        result = reader()
    except LabelsError as error:
        return "refused", str(error)
    if isinstance(result, pd.DataFrame):
        result = pa.Table.from_pandas(result, preserve_index=False)
    return "read", result.combine_chunks()


@pytest.fixture
def small_blocks(monkeypatch):
    """Blocks of a few rows, so that small files span many of them (the readers' settings,
    not a stand-in: the same code runs with blocks of 4 MiB)."""
    monkeypatch.setattr(labels_module, "_BLOCK_BYTES", 256)
    monkeypatch.setattr(labels_module, "_LOCATE_BYTES", 100)


def rows(*lines: str, good: int = 0) -> str:
    return HEADER + GOOD * good + "".join(lines)


SAME_AS_READ = {
    # Bad values in several blocks: counted over the whole file, the first three quoted.
    "bad_in_many_blocks": rows(*(GOOD * 20 + "2026-01-01T00:00:00Z\tx\t1\n" for _ in range(5))),
    "unparseable_before_future": rows(
        GOOD * 30, "2100-01-01T00:00:00Z\t1\t1\n", GOOD * 30, "noon\t1\t1\n"
    ),
    "driver_before_label": rows(
        GOOD * 30, "2026-01-01T00:00:00Z\t1\t7\n", GOOD * 30, "2026-01-01T00:00:00Z\tseven\t1\n"
    ),
    "not_whole_before_outside": rows(
        GOOD * 30, "2026-01-01T00:00:00Z\t1\t7\n", GOOD * 30, "2026-01-01T00:00:00Z\t1\t0.5\n"
    ),
    "outside_in_late_block": rows(GOOD * 50, "2026-01-01T00:00:00Z\t1\t-1\n"),
    "future_in_late_block": rows(GOOD * 50, "2031-01-01T00:00:00+00:00\t1\t1\n"),
    # Accepted: forms Arrow's casts do not take, read by pandas' rules in their block.
    "odd_but_valid": rows(
        GOOD * 20,
        "2026-01-01T10:00:00+0200\t+7\t1.0\n",
        "2026-01-01 09:00:00\t 8 \t0\n",
        "2026-01-01T09:00:00.1234567Z\t9\t1\n",
        GOOD * 20,
    ),
    "year_1677_is_pandas_range": rows(GOOD * 20, "1677-12-31T00:00:00Z\t1\t1\n"),
    "year_1500_outside_pandas_range": rows(GOOD * 20, "1500-01-01T00:00:00Z\t1\t1\n"),
    "empty_values": rows(GOOD * 20, "\t\t\n", GOOD * 20),
    "blank_lines_skipped_by_both": rows(GOOD * 20, "\n\n", "2026-01-01T00:00:00Z\t1\t2\n"),
    "columns_reordered_and_extra": "trip_completed\tnote\tdriver_id\tevent_timestamp\n"
    + "1\ta\t1001\t2026-01-01T00:00:00Z\n" * 30,
    # Rows with another number of fields than the header: pandas refuses the first with too
    # many (its line counts blank lines) and fills short ones with "".
    "too_many_fields": rows(GOOD * 30, "2026-01-01T00:00:00Z\t1\t1\t1\n", GOOD * 30),
    "too_many_after_blank_lines": rows(GOOD * 5, "\n\n", GOOD * 30, "a\tb\tc\td\n"),
    "too_many_after_short": rows(GOOD * 5, "x\n", GOOD * 30, "a\tb\tc\td\te\n"),
    "too_few_fields": rows(GOOD * 30, "2026-01-01T00:00:00Z\t1\n", GOOD * 30),
    "one_field": rows(GOOD * 30, "x\n", GOOD * 30),
    "short_rows_in_many_blocks": rows(*(GOOD * 9 + "2026-01-01T00:00:00Z\t1\n" for _ in range(6))),
    "truncated_last_row": rows(GOOD * 30, "2026-01-01T00:0"),
    "short_row_starting_with_a_space": rows(GOOD * 30, " x\n", GOOD * 3),
    "short_rows_fill_an_optional_column": "event_timestamp\tdriver_id\ttrip_completed\tnote\n"
    + "2026-01-01T00:00:00Z\t1001\t1\tok\n" * 30
    + "2026-01-01T00:00:00Z\t1002\t0\n" * 3,
    "quoted_field_with_a_tab": rows(GOOD * 30, '"2026-01-01T00:00:00Z\t"\t1\t1\n'),
    "crlf_with_a_short_row": rows(GOOD * 30, "2026-01-01T00:00:00Z\t1\n").replace("\n", "\r\n"),
}


@pytest.mark.parametrize("content", SAME_AS_READ.values(), ids=SAME_AS_READ.keys())
def test_read_arrow_gives_what_read_gives(tmp_path, small_blocks, content):
    path = write(tmp_path / "orders.csv", content)
    resource = LabelsResource(path=str(path))
    expected = outcome(resource.read)
    assert outcome(resource.read_arrow) == expected
    if expected[0] == "refused":
        assert "line " in expected[1]


def test_counts_and_examples_span_blocks(tmp_path, small_blocks):
    path = write(tmp_path / "orders.csv", SAME_AS_READ["bad_in_many_blocks"])
    with pytest.raises(LabelsError) as error:
        LabelsResource(path=str(path)).read_arrow()
    assert str(error.value).endswith(
        "column 'driver_id': 5 value(s) are not whole numbers, "
        "e.g. 'x' (line 22), 'x' (line 43), 'x' (line 64) and 2 more."
    )


def test_invalid_utf8_is_named_like_read_does(tmp_path, small_blocks):
    path = tmp_path / "orders.csv"
    path.write_bytes(rows(GOOD * 30).encode() + b"2026-01-01T00:00:00Z\t1\xff\t1\n")
    resource = LabelsResource(path=str(path))
    expected = outcome(resource.read)
    assert expected[0] == "refused" and "can't decode byte 0xff" in expected[1]
    assert outcome(resource.read_arrow) == expected


def test_zone_less_timestamps_warn_once_with_the_whole_count(tmp_path, small_blocks, caplog):
    naive = "2026-01-01 09:00:00\t1\t1\n"
    path = write(tmp_path / "orders.csv", rows(GOOD * 20, naive * 3, GOOD * 20, naive * 2))
    LabelsResource(path=str(path)).read_arrow()
    warnings = [r.getMessage() for r in caplog.records if "no timezone" in r.getMessage()]
    assert warnings == [
        f"Labels file {path}: 5 timestamp(s) in column 'event_timestamp' have no timezone, "
        "e.g. '2026-01-01 09:00:00'; they are taken as UTC."
    ]
