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


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("event_timestamp\tdriver_id\ttrip_completed\n", "has a header but no rows"),
        ("event_timestamp,driver_id,trip_completed\n2026-01-01,1,1\n", "lacks column(s)"),
        ("event_timestamp\tdriver_id\n2026-01-01\t1\n", "['trip_completed']"),
        ("event_timestamp\tdriver_id\ttrip_completed\nyesterday\t1\t1\n", "unparseable timestamp"),
        ("event_timestamp\tdriver_id\ttrip_completed\n2026-01-01\t1\tyes\n", "non-integer values"),
        ("event_timestamp\tdriver_id\ttrip_completed\n2026-01-01\t1\t0.5\n", "e.g. [0.5]"),
    ],
)
def test_bad_labels_name_the_file_and_problem(tmp_path, content, message):
    path = write(tmp_path / "orders.csv", content)
    with pytest.raises(LabelsError) as error:
        LabelsResource(path=str(path)).read()
    assert str(path) in str(error.value)
    assert message in str(error.value)


def test_missing_file_names_the_setting(tmp_path):
    with pytest.raises(LabelsError, match="TRAINING_LABELS_PATH"):
        LabelsResource(path=str(tmp_path / "nope.csv")).read()
