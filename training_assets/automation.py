"""Automation: retrain when the inputs change or drift, weekly on a schedule, and report failures.

Every sensor and the schedule start STOPPED: a team turns on what it wants (README,
"Automation"). They need the Dagster daemon, which `make dev` (`dagster dev`) starts.
"""

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg

from training_assets.assets.sources import observe_feature_source, observe_labels
from training_assets.jobs import training_job
from training_assets.project import float_setting, int_setting, path_setting, setting
from training_assets.resources.labels import LabelsResource
from training_assets.resources.source_files import FeatureSourceResource

SENSOR_INTERVAL_SECONDS = int_setting("RETRAIN_SENSOR_INTERVAL_SECONDS", 30, at_least=1)
# A file written in several steps is left alone until it has been quiet this long.
SETTLE_SECONDS = float_setting("RETRAIN_SETTLE_SECONDS", 10, at_least=0)
DRIFT_CHECK = dg.AssetCheckKey(dg.AssetKey("training_frame"), "training_frame_drift")


def _retrain_on_change(
    context: dg.SensorEvaluationContext,
    source_key: str,
    path: Path,
    observe: Callable[[], dg.ObserveResult],
) -> dg.SensorResult | dg.SkipReason:
    """One run per new content of `path`: the run key is the content hash, so the same data
    never trains twice, and the cursor is the last version seen (not a clock)."""
    if not path.is_file():
        return dg.SkipReason(f"{path} does not exist")
    quiet_for = time.time() - path.stat().st_mtime
    if quiet_for < SETTLE_SECONDS:
        return dg.SkipReason(f"{path} changed {quiet_for:.0f}s ago; waiting for writes to settle")
    observation = observe()
    version = observation.data_version.value
    if version == context.cursor:
        return dg.SkipReason(f"{source_key} unchanged (data version {version})")
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(
                run_key=f"{source_key}-{version}",
                tags={"retrain_reason": f"{source_key} changed", "source_version": version},
            )
        ],
        asset_events=[
            dg.AssetObservation(
                asset_key=source_key,
                metadata=observation.metadata,
                tags={"dagster/data_version": version},
            )
        ],
        cursor=version,
    )


@dg.sensor(
    job=training_job,
    minimum_interval_seconds=SENSOR_INTERVAL_SECONDS,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="Retrain when the labels file's content changes (new or corrected labels).",
)
def retrain_on_new_labels(context: dg.SensorEvaluationContext, labels: LabelsResource):
    return _retrain_on_change(
        context, "driver_orders", Path(labels.path), lambda: observe_labels(labels)
    )


@dg.sensor(
    job=training_job,
    minimum_interval_seconds=SENSOR_INTERVAL_SECONDS,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="Retrain when the feature source (driver_stats Parquet) changes.",
)
def retrain_on_new_features(
    context: dg.SensorEvaluationContext, feature_source: FeatureSourceResource
):
    return _retrain_on_change(
        context,
        "driver_stats_source",
        Path(feature_source.path),
        lambda: observe_feature_source(feature_source),
    )


@dg.sensor(
    job=training_job,
    minimum_interval_seconds=SENSOR_INTERVAL_SECONDS,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description=(
        "Retrain when the drift check warns on a training frame that no model was trained on "
        "yet; otherwise say which run already trained on it."
    ),
)
def retrain_on_drift(context: dg.SensorEvaluationContext):
    record = context.instance.get_latest_asset_check_evaluation_record(DRIFT_CHECK)
    if record is None or record.event is None:
        return dg.SkipReason("the drift check has not run yet")
    evaluation = record.event.asset_check_evaluation
    if evaluation is None or evaluation.passed:
        return dg.SkipReason("no drift: the latest drift check passed")
    if str(record.id) == context.cursor:
        return dg.SkipReason(f"drift of run {record.run_id} already handled")
    model_event = context.instance.get_latest_materialization_event(dg.AssetKey("model"))
    if model_event is not None and model_event.run_id == record.run_id:
        context.update_cursor(str(record.id))
        return dg.SkipReason(
            f"drift warned in run {record.run_id}, which trained a model on that frame already"
        )
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(
                run_key=f"drift-{record.id}",
                tags={"retrain_reason": "drift", "drift_check_run": record.run_id},
            )
        ],
        cursor=str(record.id),
    )


weekly_retrain = dg.ScheduleDefinition(
    name="weekly_retrain",
    job=training_job,
    cron_schedule=setting("RETRAIN_SCHEDULE", "0 3 * * 1"),
    execution_timezone=setting("RETRAIN_TIMEZONE", "UTC"),
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Periodic retraining (Mondays 03:00 UTC by default), even without new data.",
)


def failure_log_path() -> Path:
    return Path(path_setting("TRAINING_FAILURE_LOG", "var/run_failures.jsonl"))


@dg.run_failure_sensor(
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="Write a one-line summary of every failed run (run id, failed steps, error).",
)
def report_run_failure(context: dg.RunFailureSensorContext):
    steps = [event.step_key for event in context.get_step_failure_events()]
    summary = {
        "time": datetime.now(UTC).isoformat(timespec="seconds"),
        "run_id": context.dagster_run.run_id,
        "job": context.dagster_run.job_name,
        "failed_steps": steps,
        "error": context.failure_event.message,
    }
    context.log.error(f"Training run failed: {json.dumps(summary)}")
    path = failure_log_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as log:
        log.write(json.dumps(summary) + "\n")


sensors = [retrain_on_new_labels, retrain_on_new_features, retrain_on_drift, report_run_failure]
schedules = [weekly_retrain]
