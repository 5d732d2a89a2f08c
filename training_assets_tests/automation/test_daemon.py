"""The labels sensor with the real Dagster daemon: new labels -> one finished retrain run."""

import os
import subprocess
import time

import dagster as dg
import pytest
from dagster._core.instance.ref import InstanceRef

from training_assets.resources.source_files import content_hash
from training_assets_tests.support.processes import (
    BIN,
    MODULE,
    project_dagster_home,
    running_daemon,
    wait_for,
)

pytestmark = pytest.mark.slow

RUN_TIMEOUT_S = 600


def dagster_cli(*args: str, env: dict[str, str]) -> None:
    subprocess.run(
        [str(BIN / "dagster"), *args], env=env, check=True, timeout=120, capture_output=True
    )


def test_appended_labels_trigger_one_successful_run(project):
    home = project_dagster_home(project.root)
    env = {
        **os.environ,
        **project.env(),
        "RETRAIN_SENSOR_INTERVAL_SECONDS": "5",
        "RETRAIN_SETTLE_SECONDS": "1",
    }
    # The sensor starts from the current labels: only a change should train.
    dagster_cli("sensor", "start", "retrain_on_new_labels", *MODULE, env=env)
    dagster_cli(
        "sensor",
        "cursor",
        "retrain_on_new_labels",
        "--set",
        content_hash(project.labels_path),
        *MODULE,
        env=env,
    )

    with (
        running_daemon(project.root, env),
        dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home))) as instance,
    ):
        time.sleep(12)  # a few sensor ticks over unchanged labels
        assert instance.get_runs() == [], "unchanged labels must not launch a run"

        with open(project.labels_path, "a") as labels:
            labels.write("2026-01-05T10:00:00+00:00\t1001\t1\n")
        appended = time.monotonic()
        [run] = wait_for(instance.get_runs, timeout=120)
        assert run.tags["retrain_reason"] == "driver_orders changed"
        finished = wait_for(
            lambda: instance.get_run_by_id(run.run_id).is_finished, timeout=RUN_TIMEOUT_S
        )
        assert finished
        final = instance.get_run_by_id(run.run_id)
        assert final.status == dg.DagsterRunStatus.SUCCESS, (
            project.root / "daemon.log"
        ).read_text()[-3000:]
        print(f"new labels -> finished retrain run: {time.monotonic() - appended:.1f}s")

        time.sleep(15)  # nothing appended: nothing more launched
        assert len(instance.get_runs()) == 1
