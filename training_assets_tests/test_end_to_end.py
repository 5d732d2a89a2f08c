"""The whole graph in process, on a project copy with real Feast, MLflow and Dagster storage."""

from __future__ import annotations

import dagster as dg
import pytest

from training_assets.schema import TRAINING_FRAME_COLUMNS
from training_assets_tests.support.runs import MODEL_NAME, materialized, run_training

pytestmark = pytest.mark.slow

ASSETS = {
    "feast_registry",
    "training_frame",
    "train_set",
    "test_set",
    "drift_baseline",
    "model",
    "model_metrics",
    "registered_model_version",
}


def test_whole_graph_trains_validates_and_registers(project):
    with dg.instance_for_test() as instance:
        defs, result = run_training(instance)
    assert result.success
    assert materialized(result) == ASSETS
    checks = {check.check_name: check for check in result.get_asset_check_evaluations()}
    assert len(checks) == 15  # 11 on the data and splits, 4 on the model
    # All pass, the latency check too: its limits are out of reach in tests (support/project.py).
    assert all(check.passed for name, check in checks.items() if name != "model_inference_latency")
    assert [name for name, check in checks.items() if not check.passed] == []

    registry = defs.load_asset_value("feast_registry")
    assert registry["entities"]["driver"]["join_key"] == "driver_id"
    assert set(registry["feature_views"]["driver_stats"]["features"]) == {
        "conv_rate",
        "acc_rate",
        "avg_daily_trips",
    }

    frame = defs.load_asset_value("training_frame")
    assert list(frame.columns) == list(TRAINING_FRAME_COLUMNS)
    assert len(frame) == 400  # every label row of the sample
    assert frame.event_timestamp.is_monotonic_increasing
    train, test = defs.load_asset_value("train_set"), defs.load_asset_value("test_set")
    assert (len(train), len(test)) == (320, 80)

    metrics = defs.load_asset_value("model_metrics")
    assert set(metrics) == {"rmse", "mae"}
    assert 0 < metrics["rmse"] <= 0.2 and 0 < metrics["mae"] <= 0.2

    # Exactly one MLflow run for the Dagster run, holding params, metrics and the model.
    client = project.mlflow_client()
    experiment = client.get_experiment_by_name("elastic-net")
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 1
    run = runs[0]
    assert run.data.tags["dagster.run_id"] == result.run_id
    assert run.data.params["alpha"] == "0.5" and run.data.params["l1_ratio"] == "0.1"
    assert run.data.metrics == pytest.approx(metrics)
    model = defs.load_asset_value("model")
    assert model["run_id"] == run.info.run_id
    logged = client.get_logged_model(model["model_id"])
    assert logged.source_run_id == run.info.run_id

    registered = defs.load_asset_value("registered_model_version")
    assert registered == {
        "name": MODEL_NAME,
        "version": "1",
        "run_id": run.info.run_id,
        "model_uri": f"models:/{MODEL_NAME}/1",
        "aliases": ["champion"],
        "promoted": True,
    }
    version = client.get_model_version(MODEL_NAME, "1")
    assert version.run_id == run.info.run_id

    # The registered model loads and predicts one value per row.
    import mlflow

    mlflow.set_tracking_uri(project.tracking_uri)
    predictions = mlflow.pyfunc.load_model(registered["model_uri"]).predict(
        test.drop(columns="trip_completed")
    )
    assert len(predictions) == len(test)


def test_failing_data_check_stops_before_training(project, monkeypatch):
    # 400 label rows, fewer than the volume check now asks for.
    monkeypatch.setenv("DATA_MIN_ROWS", "1000")

    with dg.instance_for_test() as instance:
        _, result = run_training(instance)
    assert not result.success
    assert materialized(result) == {"feast_registry", "training_frame"}
    failed = [c.check_name for c in result.get_asset_check_evaluations() if not c.passed]
    assert failed == ["training_frame_volume"]
    client = project.mlflow_client()
    assert client.search_registered_models() == []


def test_model_over_threshold_is_not_registered_and_earlier_version_stays(project, monkeypatch):
    with dg.instance_for_test() as instance:
        defs, first = run_training(instance)
        assert first.success
        monkeypatch.setenv("MODEL_MAX_RMSE", "0.01")
        defs, second = run_training(instance)

    assert not second.success
    assert materialized(second) == ASSETS - {"registered_model_version"}
    failed = [c.check_name for c in second.get_asset_check_evaluations() if not c.passed]
    assert failed == ["model_metrics_within_thresholds"]
    # The registry and the stored registration still describe the first run's model.
    client = project.mlflow_client()
    versions = client.search_model_versions(f"name = '{MODEL_NAME}'")
    assert [str(v.version) for v in versions] == ["1"]
    assert defs.load_asset_value("registered_model_version")["version"] == "1"
