"""Automation: retrain when the inputs change or drift, weekly on a schedule, and report failures.

Every sensor and the schedule start STOPPED: a team turns on what it wants
(docs/automation.md). They need the Dagster daemon, which `make dev` (`dagster dev`) starts.
`sensors()` and `schedules()` build them from the settings (`AutomationSettings`) when the
code location loads.
"""

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg

from training_assets.assets.sources import observe_feature_source, observe_labels
from training_assets.jobs import training_job
from training_assets.resources.labels import LabelsResource
from training_assets.resources.source_files import FeatureSourceResource
from training_assets.settings import AutomationSettings, StorageSettings

DRIFT_CHECK = dg.AssetCheckKey(dg.AssetKey("training_frame"), "training_frame_drift")


def _retrain_on_change(
    context: dg.SensorEvaluationContext,
    source_key: str,
    path: Path,
    observe: Callable[[], dg.ObserveResult],
    settle_seconds: float,
) -> dg.SensorResult | dg.SkipReason:
    """One run per new content of `path`: the run key is the content hash, so the same data
    never trains twice, and the cursor is the last version seen (not a clock)."""
    if not path.is_file():
        return dg.SkipReason(f"{path} does not exist")
    quiet_for = time.time() - path.stat().st_mtime
    # A file written in several steps is left alone until it has been quiet this long.
    if quiet_for < settle_seconds:
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


def retrain_on_drift_evaluation(context: dg.SensorEvaluationContext):
    """Retrain when the drift check warned on a frame no model was trained on yet."""
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


def write_failure_summary(context: dg.RunFailureSensorContext, path: Path) -> None:
    """Log and append a one-line JSON summary of the failed run to `path`."""
    steps = [event.step_key for event in context.get_step_failure_events()]
    summary = {
        "time": datetime.now(UTC).isoformat(timespec="seconds"),
        "run_id": context.dagster_run.run_id,
        "job": context.dagster_run.job_name,
        "failed_steps": steps,
        "error": context.failure_event.message,
    }
    context.log.error(f"Training run failed: {json.dumps(summary)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as log:
        log.write(json.dumps(summary) + "\n")


def sensors(settings: AutomationSettings | None = None) -> list[dg.SensorDefinition]:
    settings = settings or AutomationSettings()
    interval, settle = settings.retrain_sensor_interval_seconds, settings.retrain_settle_seconds
    failure_log = settings.training_failure_log or (
        StorageSettings().training_state_dir / "run_failures.jsonl"
    )

    @dg.sensor(
        job=training_job,
        minimum_interval_seconds=interval,
        default_status=dg.DefaultSensorStatus.STOPPED,
        description="Retrain when the labels file's content changes (new or corrected labels).",
    )
    def retrain_on_new_labels(context: dg.SensorEvaluationContext, labels: LabelsResource):
        return _retrain_on_change(
            context, "driver_orders", Path(labels.path), lambda: observe_labels(labels), settle
        )

    @dg.sensor(
        job=training_job,
        minimum_interval_seconds=interval,
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
            settle,
        )

    retrain_on_drift = dg.sensor(
        name="retrain_on_drift",
        job=training_job,
        minimum_interval_seconds=interval,
        default_status=dg.DefaultSensorStatus.STOPPED,
        description=(
            "Retrain when the drift check warns on a training frame that no model was trained "
            "on yet; otherwise say which run already trained on it."
        ),
    )(retrain_on_drift_evaluation)

    @dg.run_failure_sensor(
        default_status=dg.DefaultSensorStatus.STOPPED,
        description="Write a one-line summary of every failed run (run id, failed steps, error).",
    )
    def report_run_failure(context: dg.RunFailureSensorContext):
        write_failure_summary(context, failure_log)

    return [retrain_on_new_labels, retrain_on_new_features, retrain_on_drift, report_run_failure]


def schedules(settings: AutomationSettings | None = None) -> list[dg.ScheduleDefinition]:
    settings = settings or AutomationSettings()
    return [
        dg.ScheduleDefinition(
            name="weekly_retrain",
            job=training_job,
            cron_schedule=settings.retrain_schedule,
            execution_timezone=settings.retrain_timezone,
            default_status=dg.DefaultScheduleStatus.STOPPED,
            description=(
                "Periodic retraining (Mondays 03:00 UTC by default), even without new data."
            ),
        )
    ]
