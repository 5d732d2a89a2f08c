import json

import dagster as dg
import pandas as pd
import pytest

from training_assets.io_managers.atomic import atomic_write
from training_assets.io_managers.files import JsonIOManager, ParquetIOManager


def test_parquet_round_trip_keeps_dtypes_and_order(tmp_path):
    manager = ParquetIOManager(base_dir=str(tmp_path))
    frame = pd.DataFrame(
        {
            "event_timestamp": pd.to_datetime(["2026-01-02", "2026-01-01"], utc=True),
            "conv_rate": pd.array([0.5, 0.25], dtype="float32"),
            "avg_daily_trips": pd.array([3, 4], dtype="int32"),
        }
    )
    manager.handle_output(dg.build_output_context(asset_key="frame"), frame)
    assert (tmp_path / "frame.parquet").is_file()
    loaded = manager.load_input(dg.build_input_context(asset_key="frame"))
    pd.testing.assert_frame_equal(loaded, frame)


def test_json_round_trip(tmp_path):
    manager = JsonIOManager(base_dir=str(tmp_path))
    value = {"rmse": 0.1, "mae": 0.05}
    manager.handle_output(dg.build_output_context(asset_key=["nested", "metrics"]), value)
    assert json.loads((tmp_path / "nested" / "metrics.json").read_text()) == value
    assert manager.load_input(dg.build_input_context(asset_key=["nested", "metrics"])) == value


def test_loading_a_value_never_stored_says_what_to_do(tmp_path):
    manager = JsonIOManager(base_dir=str(tmp_path))
    with pytest.raises(FileNotFoundError, match=r"'model_metrics'.*materialize it first"):
        manager.load_input(dg.build_input_context(asset_key="model_metrics"))


def test_failed_write_leaves_previous_value_and_no_temporary_file(tmp_path):
    target = tmp_path / "value.json"
    target.write_text("previous")

    def crash_half_way(tmp):
        tmp.write_text("half")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        atomic_write(target, crash_half_way)
    assert target.read_text() == "previous"
    assert [p.name for p in tmp_path.iterdir()] == ["value.json"]
