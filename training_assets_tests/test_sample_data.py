import pandas as pd

from training_assets.sample_data import (
    SampleSize,
    driver_orders_table,
    driver_stats_table,
    main,
    write_labels_csv,
)


def test_same_seed_same_data_other_seed_other_data():
    size = SampleSize(drivers=5, feature_rows=200, labels=50, seed=3)
    assert driver_stats_table(size).equals(driver_stats_table(size))
    assert driver_orders_table(size).equals(driver_orders_table(size))
    other = SampleSize(drivers=5, feature_rows=200, labels=50, seed=4)
    assert not driver_orders_table(size).equals(driver_orders_table(other))


def test_sizes_types_and_every_label_after_its_drivers_first_feature_row():
    size = SampleSize(drivers=7, feature_rows=700, labels=300, seed=1)
    features = driver_stats_table(size).to_pandas()
    labels = driver_orders_table(size).to_pandas()
    assert len(features) == 700 and features.driver_id.nunique() == 7
    assert len(labels) == 300
    assert str(features.conv_rate.dtype) == "float32"
    assert str(features.avg_daily_trips.dtype) == "int32"
    assert features[["conv_rate", "acc_rate"]].stack().between(0, 1).all()
    assert (features.created > features.datetime).all()
    first_row = features.groupby("driver_id").datetime.min()
    assert (labels.event_timestamp.values > first_row[labels.driver_id].values).all()
    assert set(labels.trip_completed) == {0, 1}


def test_labels_relate_to_the_features():
    size = SampleSize(drivers=40, feature_rows=4_000, labels=2_000, seed=5)
    features = driver_stats_table(size).to_pandas()
    labels = driver_orders_table(size).to_pandas()
    trips = features.groupby("driver_id").avg_daily_trips.mean()
    completion = labels.groupby("driver_id").trip_completed.mean()
    assert completion.corr(trips[completion.index]) > 0.8


def test_cli_writes_files_once(tmp_path, capsys):
    main(["--out-dir", str(tmp_path), "--drivers", "3", "--feature-rows", "30", "--labels", "10"])
    labels = pd.read_csv(tmp_path / "driver_orders.csv", sep="\t")
    assert list(labels.columns) == ["event_timestamp", "driver_id", "trip_completed"]
    assert len(labels) == 10
    written = {path.name: path.read_bytes() for path in tmp_path.iterdir()}
    main(["--out-dir", str(tmp_path), "--if-missing"])
    assert "already present" in capsys.readouterr().out
    assert {path.name: path.read_bytes() for path in tmp_path.iterdir()} == written


def test_labels_written_in_slices_are_the_same_bytes(tmp_path):
    """The labels CSV is written a slice at a time (one string array of 100M timestamps is
    past Arrow's 2 GiB limit); the slice size changes nothing in the file."""
    table = driver_orders_table(SampleSize(drivers=5, feature_rows=200, labels=1_003, seed=3))
    whole, sliced = tmp_path / "whole.csv", tmp_path / "sliced.csv"
    write_labels_csv(table, whole, slice_rows=table.num_rows)
    write_labels_csv(table, sliced, slice_rows=100)
    assert sliced.read_bytes() == whole.read_bytes()
    assert len(whole.read_text().splitlines()) == 1 + 1_003
