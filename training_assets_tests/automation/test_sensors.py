"""Sensor logic with Dagster's test contexts, on real files."""

import os
import time

import dagster as dg
import pytest

from training_assets import automation
from training_assets.definitions import build_resources
from training_assets.settings import AutomationSettings


def sensors(settle_seconds: float = 0) -> dict[str, dg.SensorDefinition]:
    """The sensors as the code location builds them; by default with no settle delay, so a
    test need not wait for files to age."""
    built = automation.sensors(AutomationSettings(retrain_settle_seconds=settle_seconds))
    return {sensor.name: sensor for sensor in built}


@pytest.fixture
def settled():
    return sensors(settle_seconds=0)


def evaluate(sensor, instance, cursor=None):
    resources = build_resources()
    context = dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources)
    return sensor(context), context


def run_requests(result) -> list[dg.RunRequest]:
    return list(result.run_requests or []) if isinstance(result, dg.SensorResult) else []


def append_label(path, line="2026-01-05T10:00:00+00:00\t1001\t1\n"):
    with open(path, "a") as handle:
        handle.write(line)


def test_new_labels_one_request_same_labels_none(project, settled):
    retrain_on_new_labels = settled["retrain_on_new_labels"]
    with dg.instance_for_test() as instance:
        first, _ = evaluate(retrain_on_new_labels, instance)
        [request] = run_requests(first)
        assert request.run_key.startswith("driver_orders-")
        assert first.cursor == request.tags["source_version"]
        observation = first.asset_events[0]
        assert observation.asset_key == dg.AssetKey("driver_orders")
        assert observation.metadata["rows"].value == 400

        again, _ = evaluate(retrain_on_new_labels, instance, cursor=first.cursor)
        assert isinstance(again, dg.SkipReason) and "unchanged" in again.skip_message

        append_label(project.labels_path)
        changed, _ = evaluate(retrain_on_new_labels, instance, cursor=first.cursor)
        [new_request] = run_requests(changed)
        assert new_request.run_key != request.run_key
        assert changed.asset_events[0].metadata["rows"].value == 401


def test_burst_of_writes_gives_one_run(project):
    retrain_on_new_labels = sensors(settle_seconds=2)["retrain_on_new_labels"]
    with dg.instance_for_test() as instance:
        baseline, _ = evaluate(retrain_on_new_labels, instance)
        if isinstance(baseline, dg.SkipReason):  # the fixture's file is still fresh
            time.sleep(2.1)
            baseline, _ = evaluate(retrain_on_new_labels, instance)
        cursor = baseline.cursor
        requests = []
        for _ in range(5):  # five writes in quick succession, evaluated between each
            append_label(project.labels_path)
            result, _ = evaluate(retrain_on_new_labels, instance, cursor=cursor)
            assert isinstance(result, dg.SkipReason) and "settle" in result.skip_message
        time.sleep(2.1)
        result, _ = evaluate(retrain_on_new_labels, instance, cursor=cursor)
        requests += run_requests(result)
        assert len(requests) == 1


def test_feature_source_change_requests_a_run(project, settled):
    import pandas as pd

    retrain_on_new_features = settled["retrain_on_new_features"]
    with dg.instance_for_test() as instance:
        first, _ = evaluate(retrain_on_new_features, instance)
        [request] = run_requests(first)
        assert request.run_key.startswith("driver_stats_source-")
        frame = pd.read_parquet(project.features_path)
        frame.iloc[:-1].to_parquet(project.features_path, index=False)
        changed, _ = evaluate(retrain_on_new_features, instance, cursor=first.cursor)
        assert len(run_requests(changed)) == 1
        assert changed.cursor != first.cursor


def test_missing_labels_file_skips_with_the_path(project, settled):
    os.remove(project.labels_path)
    with dg.instance_for_test() as instance:
        result, _ = evaluate(settled["retrain_on_new_labels"], instance)
    assert isinstance(result, dg.SkipReason) and str(project.labels_path) in result.skip_message


def test_drift_sensor_waits_for_a_drift_check(project, settled):
    with dg.instance_for_test() as instance:
        result, _ = evaluate(settled["retrain_on_drift"], instance)
    assert isinstance(result, dg.SkipReason) and "not run yet" in result.skip_message


# Stand-ins with the real keys: the sensor reads only the instance's records of these.
@dg.asset(name="training_frame")
def frame_stand_in() -> int:
    return 1


@dg.asset(name="model", deps=[frame_stand_in])
def model_stand_in() -> int:
    return 1


def drift_check(passed: bool) -> dg.AssetChecksDefinition:
    @dg.asset_check(name="training_frame_drift", asset="training_frame")
    def training_frame_drift() -> dg.AssetCheckResult:
        return dg.AssetCheckResult(passed=passed, severity=dg.AssetCheckSeverity.WARN)

    return training_frame_drift


def evaluate_drift(instance: dg.DagsterInstance, cursor: str | None = None):
    sensor = sensors()["retrain_on_drift"]
    context = dg.build_sensor_context(instance=instance, cursor=cursor)
    return sensor(context), context


def test_drift_on_a_frame_no_model_was_trained_on_requests_one_run_then_skips():
    with dg.instance_for_test() as instance:
        drifted = dg.materialize([frame_stand_in, drift_check(passed=False)], instance=instance)
        record = instance.get_latest_asset_check_evaluation_record(automation.DRIFT_CHECK)

        result, _ = evaluate_drift(instance)
        [request] = run_requests(result)
        assert request.run_key == f"drift-{record.id}"
        assert request.tags == {"retrain_reason": "drift", "drift_check_run": drifted.run_id}
        assert result.cursor == str(record.id)

        again, _ = evaluate_drift(instance, cursor=result.cursor)
    assert isinstance(again, dg.SkipReason)
    assert again.skip_message == f"drift of run {drifted.run_id} already handled"


def test_drift_in_a_run_that_also_trained_a_model_skips_and_moves_the_cursor():
    with dg.instance_for_test() as instance:
        run = dg.materialize(
            [frame_stand_in, model_stand_in, drift_check(passed=False)], instance=instance
        )
        record = instance.get_latest_asset_check_evaluation_record(automation.DRIFT_CHECK)
        result, context = evaluate_drift(instance)
    assert isinstance(result, dg.SkipReason)
    assert f"drift warned in run {run.run_id}, which trained a model" in result.skip_message
    assert context.cursor == str(record.id)


def test_a_passed_drift_check_requests_nothing():
    with dg.instance_for_test() as instance:
        dg.materialize([frame_stand_in, drift_check(passed=True)], instance=instance)
        result, _ = evaluate_drift(instance)
    assert isinstance(result, dg.SkipReason)
    assert result.skip_message == "no drift: the latest drift check passed"


def test_failure_sensor_writes_a_summary(project, monkeypatch):
    log_path = project.root / "var" / "failures.jsonl"
    monkeypatch.setenv("TRAINING_FAILURE_LOG", str(log_path))

    @dg.op
    def broken():
        raise ValueError("labels file is empty")

    @dg.job
    def failing_job():
        broken()

    with dg.instance_for_test() as instance:
        result = failing_job.execute_in_process(instance=instance, raise_on_error=False)
        context = dg.build_run_status_sensor_context(
            sensor_name="report_run_failure",
            dagster_instance=instance,
            dagster_run=result.dagster_run,
            dagster_event=result.get_run_failure_event(),
        ).for_run_failure()
        sensors()["report_run_failure"](context)
    import json

    [line] = log_path.read_text().splitlines()
    summary = json.loads(line)
    assert summary["run_id"] == result.run_id
    assert summary["failed_steps"] == ["broken"]
    assert "broken" in summary["error"]
