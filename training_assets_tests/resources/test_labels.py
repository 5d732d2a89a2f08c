from pathlib import Path

import pandas as pd
import pytest

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
