"""Dataset versions: a directory of Parquet part files written in place by an engine (Spark's
executors; here pyarrow writes the same layout), published by the versioned IO manager with
one rename, then loaded, referenced and listed like a file version."""

import dagster as dg
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from training_assets.io_managers.files import (
    DATASET_METADATA,
    STORED_ATTR,
    ParquetDataset,
    ParquetIOManager,
    StoredVersion,
    dataset_staging_dir,
    parquet_source,
    stored_version,
    stored_versions,
)


def store(base_dir):
    with dg.build_init_resource_context() as context:
        return ParquetIOManager(base_dir=str(base_dir)).create_io_manager(context)


def write_parts(directory, *parts: list[float]) -> None:
    """Part files as Spark names them (by partition number), plus its `_SUCCESS` marker."""
    directory.mkdir(parents=True)
    for number, values in enumerate(parts):
        table = pa.table({"conv_rate": pa.array(values, pa.float32())})
        pq.write_table(table, directory / f"part-{number:05d}-abc-c000.snappy.parquet")
    (directory / "_SUCCESS").write_text("")


def publish(manager, base_dir, run_id, *parts, lineage=None):
    staging = dataset_staging_dir(base_dir, "training_frame", run_id)
    write_parts(staging, *parts)
    context = dg.build_output_context(asset_key="training_frame", run_id=run_id)
    value = ParquetDataset(str(staging), content_hash="h-" + run_id, lineage=lineage or {})
    manager.handle_output(context, value)
    return staging, context


def test_published_with_one_rename_loaded_in_part_order_and_described_by_its_metadata(tmp_path):
    manager = store(tmp_path)
    # Part 10 sorts after part 2 by name: the rows come back in partition order.
    parts = [[0.1, 0.2], [0.3], [0.4, 0.5]]
    staging, context = publish(manager, tmp_path, "run-1", *parts, lineage={"labels": "x.csv"})
    version = tmp_path / "training_frame" / "run-1.parquet"
    assert version.is_dir() and not staging.exists()
    assert (tmp_path / "training_frame" / "LATEST").read_text() == "run-1.parquet"
    assert sorted(p.name for p in (tmp_path / "training_frame").iterdir()) == [
        "LATEST",
        "run-1.parquet",
    ]
    assert (version / DATASET_METADATA).is_file()
    metadata = context.get_logged_metadata()
    assert metadata["content_hash"].value == "h-run-1" and metadata["stored_files"].value == 3

    loaded = manager.load_input(dg.build_input_context(asset_key="training_frame"))
    assert loaded["conv_rate"].tolist() == pytest.approx([0.1, 0.2, 0.3, 0.4, 0.5])
    assert list(loaded.columns) == ["conv_rate"]
    stored = loaded.attrs[STORED_ATTR]
    assert stored.run_id == "run-1" and stored.content_hash == "h-run-1"
    assert stored.lineage == {"labels": "x.csv"}

    wants_reference = {"load": "reference"}
    reference = manager.load_input(
        dg.build_input_context(asset_key="training_frame", definition_metadata=wants_reference)
    )
    assert isinstance(reference, StoredVersion) and reference.path == str(version)
    assert stored_version("training_frame", version) == reference
    assert stored_versions(tmp_path, "training_frame") == [version]
    assert parquet_source(version) == f"{version}/*.parquet"
    assert pd.read_parquet(version)["conv_rate"].tolist() == pytest.approx(
        [0.1, 0.2, 0.3, 0.4, 0.5]
    )


def test_a_retried_step_replaces_its_runs_earlier_version(tmp_path):
    manager = store(tmp_path)
    publish(manager, tmp_path, "run-1", [1.0])
    publish(manager, tmp_path, "run-1", [2.0], [3.0])
    loaded = manager.load_input(dg.build_input_context(asset_key="training_frame"))
    assert loaded["conv_rate"].tolist() == [2.0, 3.0]
    assert sorted(p.name for p in (tmp_path / "training_frame").iterdir()) == [
        "LATEST",
        "run-1.parquet",
    ]


def test_an_empty_staging_directory_is_not_published(tmp_path):
    manager = store(tmp_path)
    publish(manager, tmp_path, "run-1", [1.0])
    staging = dataset_staging_dir(tmp_path, "training_frame", "run-2")
    staging.mkdir()
    context = dg.build_output_context(asset_key="training_frame", run_id="run-2")
    with pytest.raises(FileNotFoundError, match="No Parquet part files"):
        manager.handle_output(context, ParquetDataset(str(staging), content_hash="h"))
    # The previous version stays the latest; the half-made one is no version.
    assert (tmp_path / "training_frame" / "LATEST").read_text() == "run-1.parquet"
    assert [p.name for p in stored_versions(tmp_path, "training_frame")] == ["run-1.parquet"]
