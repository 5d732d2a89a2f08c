"""One Dagster run gives one MLflow run even when every step runs in its own process."""

import dagster as dg
import pytest

from training_assets.assets import features, model, registry, splits
from training_assets.checks import data_checks, model_checks, split_checks
from training_assets.definitions import build_definitions, build_resources

pytestmark = pytest.mark.slow


MODEL_STAGES = dg.AssetSelection.assets("model").downstream()


def multiprocess_model_job() -> dg.JobDefinition:
    """Training, evaluation, checks and registration on the multiprocess executor
    (this function is re-run in each step's process)."""
    defs = dg.Definitions(
        assets=dg.load_assets_from_modules([features, splits, model, registry]),
        asset_checks=dg.load_asset_checks_from_modules([data_checks, split_checks, model_checks]),
        jobs=[dg.define_asset_job("model_stages", selection=MODEL_STAGES)],
        resources=build_resources(),
        executor=dg.multiprocess_executor.configured({"max_concurrent": 2}),
    )
    return defs.resolve_job_def("model_stages")


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
        result = dg.execute_job(dg.reconstructable(multiprocess_model_job), instance)
        assert result.success
        step_pids = {
            event.pid for event in result.all_events if event.event_type_value == "STEP_START"
        }
        registered = {
            event.asset_key.to_user_string()
            for event in result.all_events
            if event.event_type_value == "ASSET_MATERIALIZATION"
        }
    assert registered == {"model", "model_metrics", "registered_model_version"}
    assert len(step_pids) >= 5  # really one process per step (3 assets, 4 checks)

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
