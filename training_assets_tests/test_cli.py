"""The README's commands, run as a user would: `make run`'s command, the Dagster and dg CLIs,
each in a child process."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

from training_assets.project import PROJECT_DIR
from training_assets_tests.support.project import BIN, MATERIALIZE

pytestmark = pytest.mark.slow

VOLUME_FAILURE = (
    "expect_table_row_count_to_be_between (at least 1000 rows (DATA_MIN_ROWS)) failed: "
)
MAKE_RUN = [sys.executable, "-m", "training_assets.run"]
LOAD_METRICS = (
    "from training_assets.definitions import defs; print(defs.load_asset_value('model_metrics'))"
)


def run(
    command: list[str],
    project,
    timeout: int = 300,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess:
    return subprocess.run(
        command,
        cwd=cwd or project.root,
        env={**os.environ, **project.env(), **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_dg_launch_then_make_run_refused_by_a_model_check(project):
    """`dg check defs` and `dg launch --assets '*'` train and register; then `make run`'s
    command with a too-strict threshold is refused: its summary and Dagster's log (the bare
    CLI's output) name the metric, its value and the limit."""
    # dg finds the project by its pyproject.toml; the settings point it at the copy.
    checked = run([str(BIN / "dg"), "check", "defs"], project, cwd=PROJECT_DIR)
    assert checked.returncode == 0, checked.stdout[-2000:] + checked.stderr[-2000:]
    assert "All definitions loaded successfully" in checked.stdout + checked.stderr
    launched = run([str(BIN / "dg"), "launch", "--assets", "*"], project, cwd=PROJECT_DIR)
    assert launched.returncode == 0, launched.stderr[-3000:]
    assert "RUN_SUCCESS" in launched.stderr

    loaded = run([sys.executable, "-c", LOAD_METRICS], project, timeout=60)
    assert loaded.returncode == 0, loaded.stderr[-3000:]
    metrics = ast.literal_eval(loaded.stdout.strip().splitlines()[-1])
    assert set(metrics) == {"rmse", "mae"} and metrics["rmse"] <= 0.2

    refused = run(MAKE_RUN, project, env={"MODEL_MAX_RMSE": "0.01"})
    assert refused.returncode != 0
    rmse = f"rmse: {metrics['rmse']:.4f} > 0.01 (MODEL_MAX_RMSE)"
    summary = refused.stdout
    assert f"model_metrics_within_thresholds      FAILED: {rmse}" in summary, summary
    assert "model_metrics                stored" in summary
    assert "registered_model_version     not stored" in summary
    assert (
        "Registry: nothing registered: blocking check(s) failed: model_metrics_within_thresholds"
        in summary
    )
    assert f"Test metrics: RMSE {metrics['rmse']:.4f}" in summary
    assert len(summary.splitlines()) < 60
    log = Path(summary.split("Full log: ")[1].splitlines()[0])
    assert f"Model check model_metrics_within_thresholds on model_metrics failed:\n  - {rmse}" in (
        log.read_text()
    )

    # The summary of the successful run, read back from the same instance.
    import dagster as dg

    from training_assets.run_summary import read_run, render

    with dg.DagsterInstance.get() as instance:
        records = instance.get_run_records(limit=2)
        success = read_run(instance, records[1].dagster_run.run_id)
    text = render(success)
    assert text.startswith(f"Run {success.run_id}: SUCCESS")
    assert "Training frame: 400 rows" in text
    assert "Registry: sklearn-elastic-net-reg version 1, aliases ['champion']" in text
    assert all(check.passed for check in success.checks if not check.warn_only)


def test_bare_command_without_dagster_home_is_refused(project):
    """Typed without DAGSTER_HOME, Dagster would use a throw-away instance: refused before
    any step runs, saying what to export."""
    env = {k: v for k, v in {**os.environ, **project.env()}.items() if k != "DAGSTER_HOME"}
    result = subprocess.run(
        MATERIALIZE, cwd=project.root, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode != 0
    assert "DAGSTER_HOME is not set" in result.stderr
    assert f"export DAGSTER_HOME={project.root / 'var' / 'dagster_home'}" in result.stderr
    assert "STEP_START" not in result.stderr
    assert not project.storage_dir.exists()


def test_failing_check_exits_non_zero_and_names_the_check(project):
    # 400 label rows, fewer than the volume check is told to ask for.
    result = run(MATERIALIZE, project, env={"DATA_MIN_ROWS": "1000"})
    assert result.returncode != 0
    assert "training_frame_volume" in result.stderr
    # The log names the expectation, the setting and the observed value.
    assert VOLUME_FAILURE in result.stderr, result.stderr[-3000:]
    assert project.stored("model") is None
    assert project.stored("registered_model_version") is None
