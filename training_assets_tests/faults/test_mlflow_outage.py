"""A real MLflow tracking server that is down at training or at registration time.

Retries bounded by the settings (attempts and retry events in the Dagster event log), then a
clear failure that names MLFLOW_TRACKING_URI and the URI (never its password); nothing
half-registered; after a restart one re-run completes the registration with exactly one new
version. How long a failing run takes is measured by benchmarks/mlflow_outage.py, not here.
"""

from __future__ import annotations

import os
import subprocess

import dagster as dg
import pytest
from dagster._core.instance.ref import InstanceRef

from training_assets_tests.support.processes import (
    HOLD_REQUEST_HOOK,
    Laps,
    MlflowServer,
    free_port,
    materialize,
    run,
    wait_for,
    write_hook,
)
from training_assets_tests.support.runs import MODEL_NAME

pytestmark = pytest.mark.slow

# Small, so the failing attempts take seconds: 2 probes per attempt, 1 step retry after 1 s.
FAST_RETRIES = {
    "MLFLOW_CONNECT_ATTEMPTS": "2",
    "MLFLOW_STEP_RETRIES": "1",
    "MLFLOW_RETRY_DELAY_SECONDS": "1",
}


def step_events(project, step_key: str) -> list:
    home = project.root / "var" / "dagster_home"
    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home))) as instance:
        run = instance.get_runs(limit=1)[0]
        return [
            entry
            for entry in instance.all_logs(run.run_id)
            if entry.dagster_event is not None and entry.step_key == step_key
        ]


def event_types(events) -> list[str]:
    return [entry.dagster_event.event_type_value for entry in events]


def test_server_down_at_training_time_fails_clearly_after_the_configured_retries(project):
    port = free_port()  # nothing listens there
    env = {
        **os.environ,
        **project.env(),
        **FAST_RETRIES,
        "MLFLOW_TRACKING_URI": f"http://trainer:s3cret-pw@127.0.0.1:{port}",
    }
    result = run(materialize("*model_metrics"), project.root, env)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert (
        f"MLflow tracking server at http://127.0.0.1:{port} is unreachable "
        "(setting MLFLOW_TRACKING_URI) after 2 attempts over"
    ) in output
    assert "Exceeded max_retries of 1" in output

    events = step_events(project, "model")
    types = event_types(events)
    assert types.count("STEP_UP_FOR_RETRY") == 1 and types[-1] == "STEP_FAILURE"
    # Bounded by the settings, not by the clock (benchmarks/mlflow_outage.py measures the
    # time): two attempts of the step (MLFLOW_STEP_RETRIES=1), the retry asked for after
    # MLFLOW_RETRY_DELAY_SECONDS, each attempt probing twice (MLFLOW_CONNECT_ATTEMPTS=2).
    attempts = ("STEP_START", "STEP_UP_FOR_RETRY", "STEP_RESTARTED", "STEP_FAILURE")
    assert [kind for kind in types if kind in attempts] == list(attempts)
    [retry] = [e for e in events if e.dagster_event.event_type_value == "STEP_UP_FOR_RETRY"]
    assert retry.dagster_event.event_specific_data.seconds_to_wait == 1
    assert (
        f"Step attempt 1 of 2: MLflow tracking server at http://127.0.0.1:{port} is "
        "unreachable (setting MLFLOW_TRACKING_URI) after 2 attempts over"
    ) in output
    assert "Dagster retries the step in 1 s." in output
    # The password in the URI never reaches the output or Dagster's storage.
    assert "s3cret-pw" not in output
    for path in (project.root / "var").rglob("*"):
        if path.is_file():
            assert b"s3cret-pw" not in path.read_bytes(), path
    assert project.stored("model") is None


def registry_state(server: MlflowServer) -> dict:
    client = server.registry_client()
    versions = sorted(
        client.search_model_versions(f"name = '{MODEL_NAME}'"), key=lambda v: int(v.version)
    )
    return {
        str(v.version): {
            "aliases": sorted(client.get_model_version(MODEL_NAME, v.version).aliases),
            "validation": v.tags.get("validation"),
            "run_id": v.run_id,
            "described": bool(v.description),
        }
        for v in versions
    }


def test_server_killed_during_registration_then_one_rerun_completes_it(project):
    lap = Laps()
    server = MlflowServer(project.root / "mlflow-server")
    server.start()
    lap("server started")
    env = {**os.environ, **project.env(), **FAST_RETRIES, "MLFLOW_TRACKING_URI": server.uri}
    try:
        trained = run(materialize("*model_metrics"), project.root, env)
        assert trained.returncode == 0, trained.stderr[-3000:]
        lap("trained up to model_metrics")

        # 1. The server is killed half-way through registration: after the version was
        #    created, before its description and alias. The run fails clearly; the version
        #    carries its tags (set in the creating request) and no alias, so nothing serves it.
        marker, go = project.root / "held", project.root / "go"
        hooked = {
            **env,
            "PYTHONPATH": str(write_hook(project.root / "hook", HOLD_REQUEST_HOOK)),
            "FAULT_URL_SUFFIX": "/model-versions/update",
            "FAULT_MARKER": str(marker),
            "FAULT_GO": str(go),
        }
        child = subprocess.Popen(
            materialize("registered_model_version"),
            cwd=project.root,
            env=hooked,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        wait_for(marker.exists, timeout=180)
        server.stop()
        go.touch()
        output, _ = child.communicate(timeout=180)
        lap("registration with the server killed half-way")
        assert child.returncode != 0
        assert f"MLflow tracking server at {server.uri} stopped answering" in output
        assert "is unreachable (setting MLFLOW_TRACKING_URI) after 2 attempts" in output
        half = registry_state(server)
        assert list(half) == ["1"]
        assert half["1"]["aliases"] == [] and half["1"]["validation"] == "passed"

        # 2. Server back: the re-run completes that version instead of adding another.
        server.start()
        again = run(materialize("registered_model_version"), project.root, env)
        assert again.returncode == 0, again.stderr[-3000:]
        lap("server restarted, registration re-run")
        assert "already holds this model" in again.stderr
        final = registry_state(server)
        assert list(final) == ["1"]
        assert final["1"]["aliases"] == ["champion"] and final["1"]["described"]
    finally:
        server.stop()
