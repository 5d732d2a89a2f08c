"""End to end, per failure class: the data checks stop the graph before training and leave the
MLflow registry alone; drift warns on the second of two materializations without blocking.
Feature values the input checks refuse stop `training_frame` before it is stored."""

from __future__ import annotations

from types import SimpleNamespace

import dagster as dg
import pandas as pd
import pyarrow as pa
import pytest

from training_assets.assets import features
from training_assets.resources.feast_store import FeastResource
from training_assets.schema import (
    FEATURE_TIMESTAMP,
    TRAINING_FRAME_COLUMNS,
    TRAINING_FRAME_SORT_KEYS,
)
from training_assets_tests.support.runs import MODEL_NAME, materialized, run_training

pytestmark = pytest.mark.slow

STOPPED_BEFORE_TRAINING = {"feast_registry", "training_frame"}


def evaluations(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckEvaluation]:
    return {check.check_name: check for check in result.get_asset_check_evaluations()}


def failed_checks(result: dg.ExecuteInProcessResult) -> set[str]:
    return {name for name, check in evaluations(result).items() if not check.passed}


def assert_nothing_trained_or_registered(project, result) -> None:
    assert not result.success
    assert materialized(result) == STOPPED_BEFORE_TRAINING
    client = project.mlflow_client()
    assert client.search_registered_models() == []
    experiment = client.get_experiment_by_name("elastic-net")
    assert experiment is None or client.search_runs([experiment.experiment_id]) == []


def rewrite_features(project, change) -> None:
    features = pd.read_parquet(project.features_path)
    change(features)
    features.to_parquet(project.features_path, index=False)


def test_labels_before_a_drivers_first_feature_row_stop_the_graph(project):
    labels = pd.read_csv(project.labels_path, sep="\t")
    features = pd.read_parquet(project.features_path)
    driver = int(features["driver_id"].iloc[0])
    first_row = features.loc[features["driver_id"] == driver, "datetime"].min()
    early = pd.DataFrame(
        {
            "event_timestamp": [(first_row - pd.Timedelta(days=d)).isoformat() for d in (1, 2, 3)],
            "driver_id": driver,
            "trip_completed": 1,
        }
    )
    pd.concat([labels, early]).to_csv(project.labels_path, sep="\t", index=False)

    with dg.instance_for_test() as instance:
        _, result = run_training(instance)
    # Null features also turn the feature columns into float64, so the schema check fails too.
    assert failed_checks(result) == {"training_frame_completeness", "training_frame_schema"}
    completeness = evaluations(result)["training_frame_completeness"].metadata
    assert completeness["label_rows_without_feature_row"].value == 3
    assert completeness["drivers_without_features"].value == str(driver)
    assert_nothing_trained_or_registered(project, result)


def test_bad_feature_values_stop_the_graph_before_storing_and_the_registered_version_stays(
    project,
):
    with dg.instance_for_test() as instance:
        defs, first = run_training(instance)
        assert first.success
        stored_path = project.stored("training_frame")
        stored_frame = stored_path.read_bytes()

        def out_of_range(features: pd.DataFrame) -> None:
            features["conv_rate"] = (features["conv_rate"] + 1.5).astype("float32")

        rewrite_features(project, out_of_range)
        defs, second = run_training(instance)

    assert not second.success
    # The input check in training_frame refuses the values before the frame is stored.
    assert materialized(second) == {"feast_registry"}
    [failure] = [e for e in second.all_events if e.is_step_failure]
    message = failure.step_failure_data.error.cause.message
    assert f"Feature source {project.features_path}, column 'conv_rate'" in message
    assert "400 label row(s) received values that are NaN or outside [0.0, 1.0]" in message
    assert project.stored("training_frame") == stored_path
    assert stored_path.read_bytes() == stored_frame
    # The registry and the stored registration still describe the first run's model.
    versions = project.mlflow_client().search_model_versions(f"name = '{MODEL_NAME}'")
    assert [str(v.version) for v in versions] == ["1"]
    assert defs.load_asset_value("registered_model_version")["version"] == "1"


def test_a_look_ahead_join_is_caught_as_leakage(project, monkeypatch):
    """A retrieval bug that takes the nearest feature row, also one after the order."""

    def look_ahead(entity_df: pd.DataFrame) -> pd.DataFrame:
        source = pd.read_parquet(project.features_path).sort_values("datetime")
        return pd.merge_asof(
            entity_df.sort_values("event_timestamp"),
            source[["driver_id", "datetime", "conv_rate", "acc_rate", "avg_daily_trips"]],
            left_on="event_timestamp",
            right_on="datetime",
            by="driver_id",
            direction="nearest",
        )

    def nearest_row(self, entity_df, feature_refs):
        return look_ahead(entity_df).drop(columns="datetime")

    def nearest_row_join(label_rows, plan, settings, declared, features=None):
        # The same bug where training_frame streams the ASOF store's join itself; like the
        # real join, it carries the timestamp of the feature row it took.
        joined = look_ahead(label_rows.to_pandas()).rename(columns={"datetime": FEATURE_TIMESTAMP})
        joined[FEATURE_TIMESTAMP] = joined[FEATURE_TIMESTAMP].astype("datetime64[us, UTC]")
        joined = joined.sort_values(list(TRAINING_FRAME_SORT_KEYS), kind="stable")
        table = pa.Table.from_pandas(joined[list(TRAINING_FRAME_COLUMNS)], preserve_index=False)
        return SimpleNamespace(stream=lambda: (table.to_reader(), lambda: None))

    monkeypatch.setattr(FeastResource, "historical_features", nearest_row)
    monkeypatch.setattr(features, "frame_join", nearest_row_join)
    with dg.instance_for_test() as instance:
        _, result = run_training(instance)
    assert failed_checks(result) == {"training_frame_leakage"}
    metadata = evaluations(result)["training_frame_leakage"].metadata
    assert metadata["rows_differing_from_as_of"].value > 0
    assert "AFTER the event: leakage" in metadata["explanations"].value
    assert_nothing_trained_or_registered(project, result)


def test_drift_warns_on_shifted_data_without_blocking(project, monkeypatch):
    # The shifted data is meant to train anyway: only the drift check is under test.
    monkeypatch.setenv("MODEL_MAX_RMSE", "10")
    monkeypatch.setenv("MODEL_MAX_MAE", "10")
    monkeypatch.setenv("MODEL_CHAMPION_TOLERANCE", "10")
    with dg.instance_for_test() as instance:
        _, first = run_training(instance)

        def shifted(features: pd.DataFrame) -> None:
            features["conv_rate"] = (features["conv_rate"] * 0.4).astype("float32")

        rewrite_features(project, shifted)
        _, second = run_training(instance)

    assert first.success and second.success
    first_drift = evaluations(first)["training_frame_drift"]
    assert first_drift.passed
    assert first_drift.metadata["baseline"].value.startswith("no baseline")
    # The first run's frame passed every blocking check: its profile is the next baseline.
    assert "drift_baseline" in materialized(first)

    second_drift = evaluations(second)["training_frame_drift"]
    assert not second_drift.passed
    assert second_drift.severity == dg.AssetCheckSeverity.WARN
    assert second_drift.metadata["drifted_features"].value == "conv_rate"
    assert second_drift.metadata["psi_conv_rate"].value > 0.2
    assert second_drift.metadata["psi_acc_rate"].value < 0.2
    assert first.run_id in second_drift.metadata["baseline"].value
    # Non-blocking: the model was trained and registered all the same.
    assert "registered_model_version" in materialized(second)
