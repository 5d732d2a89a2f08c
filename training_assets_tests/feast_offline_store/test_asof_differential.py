"""The ASOF offline store against Feast's stock `duckdb` store, on randomized adversarial data.

One throw-away feature repo (applied in-process, once) with three feature views over two
entities: `driver_stats` (created column, 6 h ttl, a field mapping), `driver_daily` (another
view on the same key, no ttl) and `customer_stats` (another entity, no created column). Each
case rewrites the Parquet sources with data where equal feature timestamps carry different
`created`, labels repeat exactly, fall before a key's first row, sit exactly on a feature
timestamp or on the ttl boundary, or name keys without any feature row. Both stores must
return the same rows (order aside: the stock store's order is arbitrary) with the same dtypes.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

T0 = datetime(2026, 3, 1, tzinfo=UTC)
TTL = timedelta(hours=6)
STORE_TYPE = "training_assets.feast_offline_store.asof_store.DuckDBAsOfOfflineStore"
DRIVER_REFS = ["driver_stats:conv_rate", "driver_stats:trips", "driver_daily:rating"]
ALL_REFS = [*DRIVER_REFS, "customer_stats:spend"]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory):
    """A feature store on the ASOF offline store, its definitions applied to the registry."""
    from feast import Entity, FeatureStore, FeatureView, Field, FileSource, ValueType
    from feast.types import Float32, Float64, Int64

    repo = tmp_path_factory.mktemp("asof_repo")
    (repo / "feature_store.yaml").write_text(
        "project: asof_differential\n"
        "provider: local\n"
        "registry: data/registry.db\n"
        f"offline_store:\n  type: {STORE_TYPE}\n  memory_limit: 1GB\n"
        "online_store:\n  type: sqlite\n  path: data/online_store.db\n"
        "entity_key_serialization_version: 3\n"
    )
    driver = Entity(name="driver", join_keys=["driver_id"], value_type=ValueType.INT64)
    customer = Entity(name="customer", join_keys=["customer_id"], value_type=ValueType.INT64)
    views = [
        FeatureView(
            name="driver_stats",
            entities=[driver],
            ttl=TTL,
            schema=[Field(name="conv_rate", dtype=Float32), Field(name="trips", dtype=Int64)],
            source=FileSource(
                path=str(repo / "driver_stats.parquet"),
                timestamp_field="datetime",
                created_timestamp_column="created",
                field_mapping={"trips_raw": "trips"},
            ),
        ),
        FeatureView(
            name="driver_daily",
            entities=[driver],
            ttl=timedelta(0),
            schema=[Field(name="rating", dtype=Float64)],
            source=FileSource(
                path=str(repo / "driver_daily.parquet"),
                timestamp_field="ts",
                created_timestamp_column="created",
            ),
        ),
        FeatureView(
            name="customer_stats",
            entities=[customer],
            ttl=timedelta(days=1),
            schema=[Field(name="spend", dtype=Float64)],
            source=FileSource(path=str(repo / "customer_stats.parquet"), timestamp_field="ts"),
        ),
    ]
    (repo / "data").mkdir()
    feature_store = FeatureStore(repo_path=str(repo))
    feature_store.apply([driver, customer, *views])
    return feature_store


def _times(minutes: np.ndarray) -> pa.Array:
    """Whole minutes after T0, as UTC microsecond timestamps (many exact ties)."""
    start = int(T0.timestamp() * 1_000_000)
    return pa.array(start + minutes.astype(np.int64) * 60_000_000, pa.timestamp("us", tz="UTC"))


def _write_case(repo: Path, rng: np.random.Generator, drivers: int, rows: int) -> None:
    # driver_stats: timestamps on a coarse grid, so (driver, datetime) repeats often, each
    # repeat with a distinct `created` (Feast breaks exact ties on both arbitrarily).
    minutes = rng.integers(0, 48, rows) * 30
    created = minutes + 1 + rng.permutation(rows)
    pq.write_table(
        pa.table(
            {
                "driver_id": pa.array(rng.integers(1, drivers + 1, rows), pa.int64()),
                "datetime": _times(minutes),
                "created": _times(created),
                "conv_rate": pa.array(rng.random(rows), pa.float32()),
                "trips_raw": pa.array(rng.integers(0, 1000, rows), pa.int64()),
            }
        ),
        repo / "driver_stats.parquet",
    )
    daily_rows = rows // 3
    daily_minutes = rng.integers(0, 3, daily_rows) * 24 * 60
    pq.write_table(
        pa.table(
            {
                "driver_id": pa.array(rng.integers(1, drivers + 1, daily_rows), pa.int64()),
                "ts": _times(daily_minutes),
                "created": _times(daily_minutes + 1 + rng.permutation(daily_rows)),
                "rating": pa.array(rng.random(daily_rows) * 5, pa.float64()),
            }
        ),
        repo / "driver_daily.parquet",
    )
    # customer_stats has no created column: keep (customer, ts) unique so the result is defined.
    customers = 8
    slots = rng.choice(customers * 40, size=min(rows // 2, customers * 40), replace=False)
    pq.write_table(
        pa.table(
            {
                "customer_id": pa.array(slots % customers + 1, pa.int64()),
                "ts": _times((slots // customers) * 60),
                "spend": pa.array(rng.random(len(slots)) * 100, pa.float64()),
            }
        ),
        repo / "customer_stats.parquet",
    )


def _entity_rows(rng: np.random.Generator, drivers: int, labels: int) -> pd.DataFrame:
    # Half-hour grid (hits feature timestamps and the 6 h ttl boundary exactly) plus odd
    # minutes; from before the first feature row to far past the last; unknown drivers too.
    minutes = np.where(
        rng.random(labels) < 0.6,
        rng.integers(-4, 60, labels) * 30,
        rng.integers(-120, 60 * 40, labels),
    )
    frame = pd.DataFrame(
        {
            "driver_id": rng.integers(1, drivers + 3, labels).astype("int64"),
            "customer_id": rng.integers(1, 10, labels).astype("int64"),
            "event_timestamp": pd.to_datetime(_times(minutes).to_pandas()),
            "label": rng.integers(0, 2, labels).astype("int64"),
        }
    )
    return pd.concat([frame, frame.sample(n=labels // 10, random_state=1)], ignore_index=True)


def _stock(store, entity_df: pd.DataFrame, refs: list[str], **kwargs) -> pd.DataFrame:
    from feast.infra.offline_stores.duckdb import DuckDBOfflineStore

    views = [store.get_feature_view(name) for name in dict.fromkeys(r.split(":")[0] for r in refs)]
    job = DuckDBOfflineStore.get_historical_features(
        store.config, views, refs, entity_df, store.registry, store.project, **kwargs
    )
    return job.to_df()


def _same_rows(ours: pd.DataFrame, stock: pd.DataFrame) -> None:
    assert list(ours.columns) == list(stock.columns)
    assert len(ours) == len(stock)
    keys = list(ours.columns)
    ours = ours.sort_values(keys, kind="stable").reset_index(drop=True)
    stock = stock.sort_values(keys, kind="stable").reset_index(drop=True)
    pd.testing.assert_frame_equal(ours, stock, check_exact=True)


@pytest.mark.parametrize(
    ("seed", "drivers", "rows", "labels"),
    [(0, 3, 60, 80), (1, 12, 400, 300), (2, 40, 1500, 900), (3, 200, 3000, 2000)],
)
def test_same_rows_as_stock_duckdb(store, seed, drivers, rows, labels):
    from training_assets.feast_offline_store.asof_store import AsOfRetrievalJob

    rng = np.random.default_rng(seed)
    _write_case(Path(store.repo_path), rng, drivers, rows)
    entity_df = _entity_rows(rng, drivers, labels)

    job = store.get_historical_features(entity_df=entity_df, features=ALL_REFS)
    assert isinstance(job, AsOfRetrievalJob)
    ours = job.to_df()
    stock = _stock(store, entity_df, ALL_REFS)
    _same_rows(ours, stock)

    # The adversarial cases are really there.
    assert ours.duplicated().any()
    assert ours["conv_rate"].isna().any() and ours["conv_rate"].notna().any()
    assert ours["spend"].isna().any() and ours["rating"].isna().any()
    # Rows come back in the entity frame's order.
    pd.testing.assert_frame_equal(ours[entity_df.columns], entity_df)


def test_full_feature_names_and_parquet_output(store, tmp_path):
    rng = np.random.default_rng(11)
    _write_case(Path(store.repo_path), rng, 10, 500)
    entity_df = _entity_rows(rng, 10, 400)[["driver_id", "event_timestamp", "label"]]

    job = store.get_historical_features(
        entity_df=entity_df, features=DRIVER_REFS, full_feature_names=True
    )
    ours = job.to_df()
    assert "driver_stats__conv_rate" in ours.columns
    _same_rows(ours, _stock(store, entity_df, DRIVER_REFS, full_feature_names=True))

    job.to_parquet(tmp_path / "frame.parquet")
    assert pq.read_table(tmp_path / "frame.parquet").equals(job.to_arrow())


def test_created_cutoff_falls_back_to_the_stock_join(store):
    from training_assets.feast_offline_store.asof_store import AsOfRetrievalJob

    rng = np.random.default_rng(5)
    _write_case(Path(store.repo_path), rng, 5, 200)
    entity_df = _entity_rows(rng, 5, 100)[["driver_id", "event_timestamp"]]
    refs = ["driver_stats:conv_rate"]
    job = store.get_historical_features(
        entity_df=entity_df, features=refs, filter_by_created_timestamp=True
    )
    assert not isinstance(job, AsOfRetrievalJob)
    _same_rows(job.to_df(), _stock(store, entity_df, refs, filter_by_created_timestamp=True))
