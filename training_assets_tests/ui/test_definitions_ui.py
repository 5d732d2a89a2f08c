"""What the Dagster UI shows about each asset and check: groups, descriptions, kinds, owners.

Fast: builds the definitions only (no run). The browser test (test_browser.py) checks that the
UI really renders them.
"""

import dagster as dg
import pytest

from training_assets.assets import OWNERS
from training_assets.definitions import build_definitions

GROUPS = {
    "driver_orders": "sources",
    "driver_stats_source": "sources",
    "feast_registry": "features",
    "training_frame": "features",
    "train_set": "data",
    "test_set": "data",
    "drift_baseline": "data",
    "model": "model",
    "model_metrics": "model",
    "registered_model_version": "registry",
}
KINDS = {
    "driver_orders": {"csv"},
    "driver_stats_source": {"parquet"},
    "feast_registry": {"feast"},
    "training_frame": {"feast", "duckdb"},
    "train_set": {"sklearn", "parquet"},
    "test_set": {"sklearn", "parquet"},
    "drift_baseline": {"numpy"},
    "model": {"sklearn", "mlflow"},
    "model_metrics": {"mlflow"},
    "registered_model_version": {"mlflow"},
}


@pytest.fixture(scope="module")
def asset_graph():
    return build_definitions().get_repository_def().asset_graph


def test_every_asset_has_its_group_description_kinds_and_owners(asset_graph):
    keys = {key.to_user_string() for key in asset_graph.get_all_asset_keys()}
    assert keys == set(GROUPS)
    for name, group in GROUPS.items():
        node = asset_graph.get(dg.AssetKey(name))
        assert node.group_name == group, name
        assert node.description and len(node.description) > 20, name
        assert KINDS[name] <= node.kinds, (name, node.kinds)
        if node.is_materializable:
            assert node.owners == OWNERS, name


def test_every_check_has_description_and_compute_kind():
    checks = build_definitions().asset_checks
    specs = [(spec, check.op) for check in checks for spec in check.check_specs]
    assert len(specs) == 15
    for spec, op in specs:
        assert spec.description and len(spec.description) > 20, spec.key
        kind = op.tags.get("dagster/compute_kind")
        assert kind in {"great_expectations", "mlflow", "numpy"}, spec.key
