"""Champion/challenger registration across several runs, against a real MLflow store."""

import dagster as dg
import mlflow
import pytest

from training_assets.champion import RollbackError, describe, rollback
from training_assets.definitions import build_definitions
from training_assets_tests.support.runs import MODEL_NAME

pytestmark = pytest.mark.slow


def train(
    instance: dg.DagsterInstance, alpha: float, force_new_version: bool = False
) -> dg.ExecuteInProcessResult:
    job = build_definitions().resolve_job_def("training_job")
    ops = {"model": {"config": {"alpha": alpha}}}
    if force_new_version:
        ops["registered_model_version"] = {"config": {"force_new_version": True}}
    return job.execute_in_process(instance=instance, run_config={"ops": ops}, raise_on_error=False)


def failed_checks(result: dg.ExecuteInProcessResult) -> list[str]:
    """Every check that did not pass, the WARN ones included: exact, because the `project`
    fixture puts the latency limits out of reach (support/project.py)."""
    return sorted(c.check_name for c in result.get_asset_check_evaluations() if not c.passed)


def registered(result: dg.ExecuteInProcessResult) -> dict | None:
    outputs = [
        event.step_output_data.step_output_handle.step_key
        for event in result.all_events
        if event.is_successful_output
    ]
    if "registered_model_version" not in outputs:
        return None
    return result.output_for_node("registered_model_version")


def test_champion_challenger_promotion_and_rollback(project, monkeypatch):
    client = project.mlflow_client()
    monkeypatch.setenv("MODEL_CHAMPION_TOLERANCE", "0.005")
    with dg.instance_for_test() as instance:
        # 1. A good model with no champion yet becomes the champion.
        first = train(instance, alpha=0.5)
        assert first.success
        assert registered(first) == {
            "name": MODEL_NAME,
            "version": "1",
            "run_id": registered(first)["run_id"],
            "model_uri": f"models:/{MODEL_NAME}/1",
            "aliases": ["champion"],
            "promoted": True,
        }
        assert describe(client, MODEL_NAME) == {"champion": "1", "previous-champion": None}

        # 2. A weak model (huge alpha) fails the thresholds: not registered, champion stays.
        weak = train(instance, alpha=1000)
        assert not weak.success
        assert failed_checks(weak) == [
            "model_metrics_within_thresholds",
            "model_not_worse_than_champion",
        ]
        assert registered(weak) is None

        # 3. Good enough for the thresholds, but worse than the champion beyond the
        #    tolerance: not registered either (docs/model-registry.md).
        worse = train(instance, alpha=200)
        assert not worse.success
        assert failed_checks(worse) == ["model_not_worse_than_champion"]
        assert registered(worse) is None
        assert [str(v.version) for v in client.search_model_versions(f"name='{MODEL_NAME}'")] == [
            "1"
        ]

        # 4. The same data, code and config as version 1: nothing new to register.
        same = train(instance, alpha=0.5)
        assert same.success
        assert registered(same)["version"] == "1"
        assert registered(same)["unchanged_since_version"] == "1"
        assert describe(client, MODEL_NAME) == {"champion": "1", "previous-champion": None}

        # 5. Forced: as good as the champion, so promoted; the old champion becomes
        #    previous-champion.
        second = train(instance, alpha=0.5, force_new_version=True)
        assert second.success
        assert registered(second)["version"] == "2"
        assert registered(second)["aliases"] == ["champion"]
    assert describe(client, MODEL_NAME) == {"champion": "2", "previous-champion": "1"}

    version = client.get_model_version(MODEL_NAME, "2")
    assert version.tags["validation"] == "passed"
    assert version.tags["dagster.run_id"] == second.run_id
    assert set(version.tags) >= {
        "code_version",
        "training_frame_data_version",
        "metrics",
        "thresholds",
    }
    assert version.tags["training_frame_data_version"] != "unknown"
    assert "RMSE" in version.description

    # The champion loads through its alias and predicts.
    mlflow.set_tracking_uri(project.tracking_uri)
    mlflow.set_registry_uri(project.tracking_uri)
    champion = mlflow.pyfunc.load_model(f"models:/{MODEL_NAME}@champion")
    features = champion.input_example if champion.input_example is not None else None
    assert features is not None and len(champion.predict(features)) == len(features)

    # Rollback is one alias swap, and a second one undoes it.
    assert rollback(client, MODEL_NAME) == {"champion": "1", "previous-champion": "2"}
    assert rollback(client, MODEL_NAME) == {"champion": "2", "previous-champion": "1"}


def test_rollback_without_previous_champion_says_so(project):
    client = project.mlflow_client()
    client.create_registered_model(MODEL_NAME)
    with pytest.raises(RollbackError, match="no @previous-champion"):
        rollback(client, MODEL_NAME)
