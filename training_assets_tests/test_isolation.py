"""conftest's autouse fixture gives back what the product changes process-wide."""

from __future__ import annotations

import os

from training_assets.resources.mlflow_tracking import (
    MlflowResource,
    _client,
    tracking_uri_without_credentials,
)
from training_assets_tests.support.isolation import isolated_process_state, mlflow_uris

SET_BY_THE_PRODUCT = (
    "MLFLOW_TRACKING_USERNAME",
    "MLFLOW_TRACKING_PASSWORD",
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES",
    "MLFLOW_TRACKING_URI",
    "MLFLOW_REGISTRY_URI",
)


def test_every_test_runs_inside_the_fixture(request):
    assert "process_state_isolation" in request.fixturenames


def test_variables_and_mlflow_uris_the_product_set_are_gone_afterwards(tmp_path, monkeypatch):
    # As a test that "cleans up" with delenv(raising=False) does: nothing recorded to undo.
    for name in SET_BY_THE_PRODUCT:
        monkeypatch.delenv(name, raising=False)
    before = mlflow_uris()
    tracking_uri = f"sqlite:///{tmp_path / 'mlflow.db'}"

    with isolated_process_state():
        # os.environ.setdefault in the product: credentials out of the URI, HTTP settings.
        tracking_uri_without_credentials("https://bot:pa55@mlflow.internal:8443/")
        resource = MlflowResource(
            tracking_uri=tracking_uri, http_settings={"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1"}
        )
        resource.activate()  # mlflow.set_tracking_uri / set_registry_uri
        resource.client()  # the cached client, holding the store
        assert os.environ["MLFLOW_TRACKING_USERNAME"] == "bot"
        assert os.environ["MLFLOW_TRACKING_PASSWORD"] == "pa55"
        assert os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == "1"
        assert os.environ["MLFLOW_TRACKING_URI"] == tracking_uri
        assert os.environ["MLFLOW_REGISTRY_URI"] == tracking_uri
        assert mlflow_uris() == (tracking_uri, tracking_uri)
        assert _client.cache_info().currsize == 1

    assert [name for name in SET_BY_THE_PRODUCT if name in os.environ] == []
    assert mlflow_uris() == before
    assert _client.cache_info().currsize == 0


def test_a_changed_or_removed_variable_gets_its_old_value_back(monkeypatch):
    monkeypatch.setenv("ISOLATION_PROBE_CHANGED", "before")
    monkeypatch.setenv("ISOLATION_PROBE_REMOVED", "before")
    with isolated_process_state():
        os.environ["ISOLATION_PROBE_CHANGED"] = "after"
        del os.environ["ISOLATION_PROBE_REMOVED"]
    assert os.environ["ISOLATION_PROBE_CHANGED"] == "before"
    assert os.environ["ISOLATION_PROBE_REMOVED"] == "before"


def test_the_mlflow_globals_it_resets_exist_in_the_installed_mlflow():
    """The fixture resets MLflow's private module globals: fail loudly if they move."""
    from mlflow.tracking._model_registry import utils as registry_utils
    from mlflow.tracking._tracking_service import utils as tracking_utils

    assert hasattr(tracking_utils, "_tracking_uri")
    assert hasattr(registry_utils, "_registry_uri")
    with isolated_process_state():
        import mlflow

        mlflow.set_tracking_uri("sqlite:///probe.db")
        assert tracking_utils._tracking_uri == "sqlite:///probe.db"
