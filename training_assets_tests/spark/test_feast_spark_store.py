"""What Feast's own Spark offline store (feast.infra.offline_stores.contrib.spark_offline_store)
returns on our adversarial data, against the DuckDB training frame; run on the 2-worker cluster
(the store uses the active SparkSession).

Measured (these tests pin it down, so a Feast upgrade that changes it shows up here):
- it keeps every label row, duplicates included, and labels before a driver's first feature
  row (null features); it breaks `created` ties the right way and honours the ttl: on data
  whose `created` is never null it equals the DuckDB frame row for row;
- but when the latest feature row before a label has a NULL `created` (alone at its
  timestamp), it hands the label an OLDER row's values (its `MAX(created)` dedup joins on
  `created = NULL`, which drops that row), where the DuckDB join uses that latest row;
- with two join keys, its entity row id is `CONCAT(key1, key2, timestamp)` without a
  separator, so (1, 23) and (12, 3) at the same time collide and get each other's features;
- event timestamps come back timezone-naive (UTC wall time), rows in no particular order.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from training_assets.schema import FEATURES, LABEL_COLUMNS
from training_assets_tests.spark.data import TTL, differing_rows, duckdb_frame, write_case

pytest.importorskip("pyspark")
# A measurement of Feast's store (which the pipeline does not use), not of the pipeline: it
# costs ~45 s of CI time, so it runs on request, e.g. after a Feast upgrade:
#   TRAINING_MEASURE_FEAST_SPARK=1 .venv/bin/pytest training_assets_tests/spark -k feast
pytestmark = [
    pytest.mark.slow,
    pytest.mark.spark,
    pytest.mark.skipif(
        os.environ.get("TRAINING_MEASURE_FEAST_SPARK") != "1",
        reason="measures Feast's Spark offline store: set TRAINING_MEASURE_FEAST_SPARK=1",
    ),
]

STORE_YAML = (
    "project: feast_spark_measure\n"
    "provider: local\n"
    "registry: data/registry.db\n"
    "offline_store:\n  type: spark\n"
    "online_store:\n  type: sqlite\n  path: data/online_store.db\n"
    "entity_key_serialization_version: 3\n"
)


def _feast_store(repo: Path, views) -> object:
    from feast import FeatureStore

    repo.mkdir(parents=True, exist_ok=True)
    (repo / "data").mkdir(exist_ok=True)
    (repo / "feature_store.yaml").write_text(STORE_YAML)
    store = FeatureStore(repo_path=str(repo))
    store.apply(views)
    return store


def _driver_stats(features_path: Path) -> list:
    from feast import Entity, FeatureView, Field, ValueType
    from feast.infra.offline_stores.contrib.spark_offline_store.spark_source import SparkSource
    from feast.types import Float32, Int32

    driver = Entity(name="driver", join_keys=["driver_id"], value_type=ValueType.INT64)
    view = FeatureView(
        name="driver_stats",
        entities=[driver],
        ttl=TTL,
        schema=[
            Field(name="conv_rate", dtype=Float32),
            Field(name="acc_rate", dtype=Float32),
            Field(name="avg_daily_trips", dtype=Int32),
        ],
        source=SparkSource(
            name="driver_stats_source",
            path=str(features_path),
            file_format="parquet",
            timestamp_field="datetime",
            created_timestamp_column="created",
            field_mapping={"trips_raw": "avg_daily_trips"},
        ),
    )
    return [driver, view]


def _feast_frame(store, labels_path: Path) -> pd.DataFrame:
    entity_df = pd.read_csv(labels_path, sep="\t")
    entity_df["event_timestamp"] = pd.to_datetime(entity_df["event_timestamp"], utc=True)
    job = store.get_historical_features(
        entity_df=entity_df, features=[f"driver_stats:{name}" for name in FEATURES]
    )
    return job.to_df()


# Feast returns the labels and the features; the training frame also carries the feature
# timestamp, which Feast has no column for.
COMPARED = [*LABEL_COLUMNS, *FEATURES]


def _comparable(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame[COMPARED].astype({n: "float64" for n in FEATURES})
    return frame.sort_values(COMPARED).reset_index(drop=True)


def _latest_created_is_null(features: pd.DataFrame, row) -> bool:
    """Is the latest feature row at or before this label alone at its time with created NULL?"""
    rows = features[
        (features.driver_id == row.driver_id) & (features.datetime <= row.event_timestamp_expected)
    ]
    if rows.empty:
        return False
    top = rows[rows.datetime == rows.datetime.max()]
    return bool(top.created.isna().all())


@pytest.mark.parametrize("null_created", [False, True])
@pytest.mark.parametrize(
    ("seed", "drivers", "rows", "labels"), [(1, 40, 1500, 900), (3, 200, 3000, 2000)]
)
def test_feast_spark_store_against_duckdb(
    spark, tmp_path, seed, drivers, rows, labels, null_created
):
    case = write_case(tmp_path / "data", seed, drivers, rows, labels, null_created=null_created)
    store = _feast_store(tmp_path / "repo", _driver_stats(case.features_path))
    feast = _feast_frame(store, case.labels_path)
    duck = duckdb_frame(case)

    # Every label row, duplicates included, comes back; timestamps without their zone.
    assert len(feast) == len(duck)
    assert str(feast["event_timestamp"].dtype) == "datetime64[ns]"
    feast["event_timestamp"] = feast["event_timestamp"].dt.tz_localize("UTC")
    feast_rows, duck_rows = _comparable(feast), _comparable(duck)
    pd.testing.assert_frame_equal(
        feast_rows[["event_timestamp", "driver_id", "trip_completed"]],
        duck_rows[["event_timestamp", "driver_id", "trip_completed"]],
        check_dtype=False,
    )
    # Compared per label row: the label columns are unique up to exact duplicates, and
    # duplicates get the same features in both, so sorting by all columns aligns them...
    # except where the features differ: align on labels + duplicate ordinal instead.
    keys = ["event_timestamp", "driver_id", "trip_completed"]
    for frame in (feast_rows, duck_rows):
        frame["n"] = frame.groupby(keys).cumcount()
    merged = feast_rows.merge(duck_rows, on=[*keys, "n"], suffixes=("", "_expected"))
    assert len(merged) == len(duck)
    differs = np.zeros(len(merged), dtype=bool)
    for name in FEATURES:
        a, b = merged[name], merged[f"{name}_expected"]
        differs |= ~((a == b) | (a.isna() & b.isna())).to_numpy()
    different = merged[differs].rename(columns={"event_timestamp": "event_timestamp_expected"})
    print(
        f"\nseed {seed}, {drivers} drivers, rows with NULL created: {null_created}: "
        f"{len(merged)} rows compared, {len(different)} differ"
    )
    if len(different):
        print(different.head(3).T.to_string())
    if not null_created:
        assert len(different) == 0
        assert differing_rows(_comparable(feast), _comparable(duck)).empty
        return
    # Every difference is a label whose latest feature row has a NULL `created`: Feast
    # gives it an older row's values (never nulls where DuckDB has values from that row).
    assert len(different) > 0
    features = pd.read_parquet(case.features_path)
    assert all(_latest_created_is_null(features, row) for row in different.itertuples())
    assert different["conv_rate"].notna().any()


def test_two_join_keys_collide(spark, tmp_path):
    """(driver 1, customer 23) and (driver 12, customer 3) at one time: one id for both."""
    from feast import Entity, FeatureView, Field, ValueType
    from feast.infra.offline_stores.contrib.spark_offline_store.spark_source import SparkSource
    from feast.types import Float64

    from training_assets.feast_offline_store.asof_join import FeatureViewSpec, PointInTimeJoin

    t0 = pd.Timestamp("2026-03-01", tz="UTC")
    source = pd.DataFrame(
        {
            "driver_id": [1, 12],
            "customer_id": [23, 3],
            "datetime": [t0, t0],
            "created": [t0 + pd.Timedelta(minutes=1), t0 + pd.Timedelta(minutes=2)],
            "value": [100.0, 200.0],
        }
    ).astype({"datetime": "datetime64[us, UTC]", "created": "datetime64[us, UTC]"})
    source.to_parquet(tmp_path / "pairs.parquet", index=False)
    driver = Entity(name="driver", join_keys=["driver_id"], value_type=ValueType.INT64)
    customer = Entity(name="customer", join_keys=["customer_id"], value_type=ValueType.INT64)
    view = FeatureView(
        name="pairs",
        entities=[driver, customer],
        ttl=timedelta(days=1),
        schema=[Field(name="value", dtype=Float64)],
        source=SparkSource(
            name="pairs_source",
            path=str(tmp_path / "pairs.parquet"),
            file_format="parquet",
            timestamp_field="datetime",
            created_timestamp_column="created",
        ),
    )
    store = _feast_store(tmp_path / "repo", [driver, customer, view])
    later = t0 + pd.Timedelta(hours=1)
    entity_df = pd.DataFrame(
        {"driver_id": [1, 12], "customer_id": [23, 3], "event_timestamp": [later, later]}
    )
    feast = store.get_historical_features(entity_df=entity_df.copy(), features=["pairs:value"])
    feast = feast.to_df().sort_values("driver_id")
    spec = FeatureViewSpec(
        "pairs",
        str(tmp_path / "pairs.parquet"),
        "datetime",
        "created",
        86_400_000_000,
        (("driver_id", "driver_id"), ("customer_id", "customer_id")),
        (("value", "value"),),
    )
    import pyarrow as pa

    duck = PointInTimeJoin(pa.Table.from_pandas(entity_df), "event_timestamp", [spec]).to_arrow()
    print(f"\nFeast spark: {feast['value'].tolist()}, DuckDB: {duck['value'].to_pylist()}")
    assert duck["value"].to_pylist() == [100.0, 200.0]
    # Both pairs share the id "1232026-03-01 01:00:00": both get the later-created row.
    assert feast["value"].tolist() == [200.0, 200.0]
