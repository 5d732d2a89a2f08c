"""The README's commands, run as a user would: the Dagster CLI in a child process."""

from __future__ import annotations

import ast
import os
import subprocess
import sys

import pytest

from training_assets_tests.support.project import MATERIALIZE

pytestmark = pytest.mark.slow

VOLUME_FAILURE = (
    "expect_table_row_count_to_be_between (at least 1000 rows (DATA_MIN_ROWS)) failed: "
)
LOAD_METRICS = (
    "from training_assets.definitions import defs; print(defs.load_asset_value('model_metrics'))"
)


def run(
    command: list[str], project, timeout: int = 300, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    return subprocess.run(
        command,
        cwd=project.root,
        env={**os.environ, **project.env(), **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_materialize_everything_then_load_the_metrics(project):
    result = run(MATERIALIZE, project)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "RUN_SUCCESS" in result.stderr

    loaded = run([sys.executable, "-c", LOAD_METRICS], project, timeout=60)
    assert loaded.returncode == 0, loaded.stderr[-3000:]
    metrics = ast.literal_eval(loaded.stdout.strip().splitlines()[-1])
    assert set(metrics) == {"rmse", "mae"} and metrics["rmse"] <= 0.2


def test_failing_check_exits_non_zero_and_names_the_check(project):
    # 400 label rows, fewer than the volume check is told to ask for.
    result = run(MATERIALIZE, project, env={"DATA_MIN_ROWS": "1000"})
    assert result.returncode != 0
    assert "training_frame_volume" in result.stderr
    # The log names the expectation, the setting and the observed value.
    assert VOLUME_FAILURE in result.stderr, result.stderr[-3000:]
    assert not (project.storage_dir / "model.json").exists()
    assert not (project.storage_dir / "registered_model_version.json").exists()
