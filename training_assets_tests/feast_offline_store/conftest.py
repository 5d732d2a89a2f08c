"""The project's feature repo applied once for the tests comparing the ASOF store with Feast's
stock `duckdb` store on the project's own definitions.

A copy of feature_repo/ is applied with `feast apply` (the real CLI, in a child process, as
the pipeline runs it) over small sample data; a second `feature_store.yaml` next to it shares
that registry and the feature file but says `type: duckdb`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pandas as pd
import pytest

from training_assets_tests.support.project import SMALL_SAMPLE, copy_feature_repo

STORE_TYPE = "training_assets.feast_offline_store.asof_store.DuckDBAsOfOfflineStore"


@dataclass
class AppliedRepo:
    # {"ours": FeatureStore on the ASOF store, "stock": on `duckdb`}, one registry.
    stores: dict[str, Any]
    # What `FeastResource.apply()` returned: the registry description `feast_registry` holds.
    description: dict[str, Any]


@pytest.fixture(scope="package")
def applied_repo(tmp_path_factory: pytest.TempPathFactory) -> AppliedRepo:
    from feast import FeatureStore

    from training_assets.resources.feast_store import FeastResource
    from training_assets.sample_data import write_sample_data

    root = tmp_path_factory.mktemp("applied_repo")
    repo = root / "feature_repo"
    copy_feature_repo(repo)
    features_path, _ = write_sample_data(root / "data", SMALL_SAMPLE)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("DRIVER_STATS_PATH", str(features_path))
        description = FeastResource(repo_path=str(repo), always_apply=True).apply()

    config = (repo / "feature_store.yaml").read_text()
    assert f"type: {STORE_TYPE}" in config
    stock_repo = root / "stock_repo"
    stock_repo.mkdir()
    stock_config = config.replace(f"type: {STORE_TYPE}", "type: duckdb").replace(
        "registry: data/registry.db", f"registry: {repo / 'data' / 'registry.db'}"
    )
    # The stock store has no memory_limit setting.
    stock_config = re.sub(r"\n  memory_limit: .*\n", "\n", stock_config)
    (stock_repo / "feature_store.yaml").write_text(stock_config)
    stores = {
        "ours": FeatureStore(repo_path=str(repo)),
        "stock": FeatureStore(repo_path=str(stock_repo)),
    }
    return AppliedRepo(stores, description)


@pytest.fixture(scope="package")
def entity_df() -> pd.DataFrame:
    """The sample labels, nanosecond timestamps (pandas' default), some rows twice."""
    from training_assets.sample_data import driver_orders_table

    labels = driver_orders_table(SMALL_SAMPLE).to_pandas()
    labels["event_timestamp"] = labels["event_timestamp"].astype("datetime64[ns, UTC]")
    return pd.concat([labels, labels.head(25)], ignore_index=True)
