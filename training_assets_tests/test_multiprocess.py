"""One Dagster run gives one MLflow run even when every step runs in its own process."""

import os

import dagster as dg
import pytest

from training_assets.definitions import build_definitions

pytestmark = pytest.mark.slow

MODEL_STAGES = [dg.AssetKey(key) for key in ("model", "model_metrics", "registered_model_version")]


def multiprocess_training_job() -> dg.JobDefinition:
    """The training job on the multiprocess executor (re-built in each step's process)."""
    executor = dg.multiprocess_executor.configured({"max_concurrent": 2})
    return build_definitions(executor=executor).resolve_job_def("training_job")


def test_steps_in_separate_processes_log_to_one_mlflow_run(project):
    with dg.instance_for_test(temp_dir=str(project.root / "var" / "dagster_home")) as instance:
        # The data stages in process first; they log nothing to MLflow.
        data_stages = build_definitions().resolve_job_def("training_job")
        upstream = data_stages.execute_in_process(
            instance=instance,
            asset_selection=[
                dg.AssetKey(key)
                for key in ("feast_registry", "training_frame", "train_set", "test_set")
            ],
        )
        assert upstream.success
        result = dg.execute_job(
            dg.reconstructable(multiprocess_training_job), instance, asset_selection=MODEL_STAGES
        )
        assert result.success
        starts = [event for event in result.all_events if event.event_type_value == "STEP_START"]
        step_pids = {event.pid for event in starts}
        registered = {
            event.asset_key.to_user_string()
            for event in result.all_events
            if event.event_type_value == "ASSET_MATERIALIZATION"
        }
    assert registered == {"model", "model_metrics", "registered_model_version"}
    assert len(step_pids) >= 5  # really one process per step (3 assets, 4 checks)
    # Exactly: 7 steps, each started in a process of its own, none in the test's process.
    assert len(starts) == 7
    assert len(step_pids) == 7 and os.getpid() not in step_pids

    client = project.mlflow_client()
    experiment = client.get_experiment_by_name("elastic-net")
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 1
    run = runs[0]
    assert run.data.tags["dagster.run_id"] == result.run_id
    assert set(run.data.metrics) == {"rmse", "mae"}
    assert "alpha" in run.data.params
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "plots")}
    assert artifacts == {"plots/predicted_vs_actual.png", "plots/residuals.png"}
    dataset_roles = {
        tag.value
        for dataset_input in run.inputs.dataset_inputs
        for tag in dataset_input.tags
        if tag.key == "mlflow.data.context"
    }
    assert dataset_roles == {"training", "evaluation"}
