"""Re-execution from failure after fixing the input reuses the upstream results.

A real `dagster job execute` of training_job fails because a setting is wrong (MODEL_MAX_RMSE
far too strict: the blocking thresholds check fails, registration is skipped). With the
setting fixed, a child process re-executes that run from failure with Dagster's API
(`ReexecutionOptions.from_failure`): only the failed check and what it skipped run again.
"""

from __future__ import annotations

import json
import os
import sys
import textwrap

import dagster as dg
import pytest
from dagster._core.instance.ref import InstanceRef

from training_assets_tests.support.processes import Laps, dagster, run

pytestmark = pytest.mark.slow

REEXECUTE = textwrap.dedent(
    """
    import sys
    import dagster as dg
    from training_assets_tests.support.processes import training_job

    with dg.DagsterInstance.get() as instance:
        result = dg.execute_job(
            dg.reconstructable(training_job),
            instance,
            reexecution_options=dg.ReexecutionOptions.from_failure(sys.argv[1], instance),
        )
        print(result.run_id, result.success)
    """
)
UPSTREAM_STEPS = {"feast_registry", "training_frame", "train_test_sets", "model", "model_metrics"}


def started_steps(instance: dg.DagsterInstance, run_id: str) -> set[str]:
    return {
        entry.step_key
        for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_START)
    }


def test_reexecute_from_failure_after_fixing_the_setting(project):
    lap = Laps()
    home = project.root / "var" / "dagster_home"
    env = {**os.environ, **project.env()}
    failed = run(
        dagster("job", "execute", "-j", "training_job", "-m", "training_assets.definitions"),
        project.root,
        {**env, "MODEL_MAX_RMSE": "0.001"},
    )
    lap("failing run")
    assert failed.returncode != 0
    assert "model_metrics_within_thresholds" in failed.stderr
    model_before = project.stored("model").read_text()
    assert project.stored("registered_model_version") is None

    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home))) as instance:
        [parent] = instance.get_runs()
        assert parent.status == dg.DagsterRunStatus.FAILURE

    # Fixed: MODEL_MAX_RMSE back to its default. Re-execute from failure.
    child_env = {**env, "PYTHONPATH": os.pathsep.join(sys.path)}
    result = run([sys.executable, "-c", REEXECUTE, parent.run_id], project.root, child_env)
    lap("re-execution from failure")
    assert result.returncode == 0, result.stderr[-3000:]
    run_id, success = result.stdout.split()[-2:]
    assert success == "True", result.stderr[-3000:]

    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home))) as instance:
        child = instance.get_run_by_id(run_id)
        assert child.parent_run_id == parent.run_id
        rerun = started_steps(instance, run_id)
        print(f"re-executed steps: {sorted(rerun)}")
        assert "registered_model_version" in rerun
        assert not rerun & UPSTREAM_STEPS, "upstream results must be reused, not recomputed"
        # Exactly the failed check and the step it skipped (the docstring's claim).
        assert rerun == {
            "model_metrics_model_metrics_within_thresholds",
            "registered_model_version",
        }
        assert started_steps(instance, parent.run_id) >= UPSTREAM_STEPS

    # The stored model is the parent run's, and it is now registered and the champion.
    assert project.stored("model").read_text() == model_before
    registered = json.loads(project.stored("registered_model_version").read_text())
    assert registered["run_id"] == json.loads(model_before)["run_id"]
    assert registered["version"] == "1"
    assert registered["aliases"] == ["champion"] and registered["promoted"]
