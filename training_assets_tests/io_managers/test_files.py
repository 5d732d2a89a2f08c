"""The versioned IO managers: one immutable file per materialization, LATEST naming the newest,
inputs loaded from their own run's version, references read from the footer alone."""

import json

import dagster as dg
import pandas as pd
import pytest

from training_assets.io_managers.atomic import atomic_write
from training_assets.io_managers.files import (
    LINEAGE_ATTR,
    STORED_ATTR,
    JsonIOManager,
    ParquetIOManager,
    StoredVersion,
    content_hash,
)


def store(factory, base_dir):
    with dg.build_init_resource_context() as context:
        return factory(base_dir=str(base_dir)).create_io_manager(context)


def frame(values=(0.5, 0.25)) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "event_timestamp": pd.to_datetime(["2026-01-02", "2026-01-01"], utc=True),
            "conv_rate": pd.array(values, dtype="float32"),
            "avg_daily_trips": pd.array([3, 4], dtype="int32"),
        }
    )


def write(manager, key, value, run_id):
    manager.handle_output(dg.build_output_context(asset_key=key, run_id=run_id), value)


def test_parquet_round_trip_keeps_dtypes_and_order_and_says_where_it_came_from(tmp_path):
    manager = store(ParquetIOManager, tmp_path)
    write(manager, "frame", frame(), "run-1")
    assert (tmp_path / "frame" / "run-1.parquet").is_file()
    assert (tmp_path / "frame" / "LATEST").read_text() == "run-1.parquet"
    loaded = manager.load_input(dg.build_input_context(asset_key="frame"))
    pd.testing.assert_frame_equal(loaded, frame())
    stored = loaded.attrs[STORED_ATTR]
    assert stored.run_id == "run-1" and stored.content_hash == content_hash(frame())


def test_every_materialization_is_kept_and_inputs_load_their_own_runs_version(tmp_path):
    manager = store(ParquetIOManager, tmp_path)
    write(manager, "frame", frame((0.5, 0.25)), "run-1")
    write(manager, "frame", frame((0.9, 0.75)), "run-2")
    assert sorted(p.name for p in (tmp_path / "frame").iterdir()) == [
        "LATEST",
        "run-1.parquet",
        "run-2.parquet",
    ]
    # No upstream run: the latest. Upstream stored in run-1: run-1's, although run-2 is newer.
    latest = manager.load_input(dg.build_input_context(asset_key="frame"))
    assert latest["conv_rate"].tolist() == pytest.approx([0.9, 0.75])
    upstream = dg.build_output_context(asset_key="frame", run_id="run-1")
    own = manager.load_input(dg.build_input_context(asset_key="frame", upstream_output=upstream))
    assert own["conv_rate"].tolist() == pytest.approx([0.5, 0.25])


def test_lineage_set_by_an_asset_lands_in_the_footer_and_a_reference_reads_it(tmp_path):
    manager = store(ParquetIOManager, tmp_path)
    value = frame()
    value.attrs[LINEAGE_ATTR] = {"split": {"test_size": 0.2}, "derived_from": {"run_id": "r0"}}
    write(manager, "train_set", value, "run-1")
    reference = manager.load_input(
        dg.build_input_context(asset_key="train_set", definition_metadata={"load": "reference"})
    )
    assert isinstance(reference, StoredVersion)
    assert reference.path == str(tmp_path / "train_set" / "run-1.parquet")
    assert reference.content_hash == content_hash(frame())
    assert reference.lineage == {"split": {"test_size": 0.2}, "derived_from": {"run_id": "r0"}}


def test_json_round_trip(tmp_path):
    manager = store(JsonIOManager, tmp_path)
    value = {"rmse": 0.1, "mae": 0.05}
    write(manager, ["nested", "metrics"], value, "run-1")
    assert json.loads((tmp_path / "nested" / "metrics" / "run-1.json").read_text()) == value
    assert manager.load_input(dg.build_input_context(asset_key=["nested", "metrics"])) == value


def test_loading_a_value_never_stored_says_what_to_do(tmp_path):
    manager = store(JsonIOManager, tmp_path)
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


def test_a_stored_file_gets_the_mode_new_files_get(tmp_path):
    """Not mkstemp's private 0600: other users of the machine (a UI, a backup) can read it."""
    import os

    target = tmp_path / "value.json"
    atomic_write(target, lambda tmp: tmp.write_text("{}"))
    mask = os.umask(0)
    os.umask(mask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~mask
