"""Two launches at once are serialized by the run queue; the registry ends consistent.

A real `dagster-daemon` on a temp DAGSTER_HOME with the project's dagster.yaml; two
`dagster job launch` of training_job at the same moment go through the queued run
coordinator. They must run one after the other and register versions 1 and 2 in that order.
"""

from __future__ import annotations

import json
import os
import subprocess

import dagster as dg
import pytest
from dagster._core.instance.ref import InstanceRef

from training_assets.champion import describe
from training_assets.domain import alias_history
from training_assets_tests.support.processes import (
    MODULE,
    Laps,
    dagster,
    project_dagster_home,
    running_daemon,
    wait_for,
)
from training_assets_tests.support.runs import MODEL_NAME

pytestmark = pytest.mark.slow


FORCED = json.dumps({"ops": {"registered_model_version": {"config": {"force_new_version": True}}}})


def test_two_simultaneous_launches_run_one_after_the_other(project):
    lap = Laps()
    home = project_dagster_home(project.root)
    env = {**os.environ, **project.env()}
    with running_daemon(project.root, env):
        launches = [
            subprocess.Popen(
                # Both on the same data: forced, or the second would register nothing.
                dagster("job", "launch", "-j", "training_job", *MODULE, "--config-json", FORCED),
                cwd=project.root,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for _ in range(2)
        ]
        for launch in launches:
            output, _ = launch.communicate(timeout=120)
            assert launch.returncode == 0, output[-2000:]
        lap("two launches submitted")

        with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home))) as instance:
            runs = instance.get_runs()
            assert len(runs) == 2
            assert all(run.tags.get("pipeline") == "training" for run in runs)

            def finished():
                return all(instance.get_run_by_id(r.run_id).is_finished for r in runs)

            wait_for(finished, timeout=900, interval=3)
            lap("both runs finished")
            log = (project.root / "daemon.log").read_text()[-3000:]
            assert all(
                instance.get_run_by_id(r.run_id).status == dg.DagsterRunStatus.SUCCESS for r in runs
            ), log
            stats = sorted(
                (instance.get_run_stats(r.run_id) for r in runs), key=lambda s: s.start_time
            )
            first, second = stats
            print(
                f"run 1 {first.start_time:.1f}-{first.end_time:.1f}, "
                f"run 2 {second.start_time:.1f}-{second.end_time:.1f}"
            )
            assert first.end_time <= second.start_time, "the two runs overlapped"
            order = [s.run_id for s in stats]

    client = project.mlflow_client()
    versions = sorted(
        client.search_model_versions(f"name = '{MODEL_NAME}'"), key=lambda v: int(v.version)
    )
    assert [str(v.version) for v in versions] == ["1", "2"]
    # Versions in launch-execution order: version n was registered by the n-th run.
    assert [v.tags["dagster.run_id"] for v in versions] == order
    assert describe(client, MODEL_NAME) == {"champion": "2", "previous-champion": "1"}
    # Both promotions are in the alias history, in the order they happened.
    events = alias_history.history(client, MODEL_NAME)
    assert [e.by for e in events] == [f"Dagster run {run_id}" for run_id in order]
    assert [e.moves["champion"] for e in events] == [[None, "1"], ["1", "2"]]
