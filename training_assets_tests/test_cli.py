"""The README's commands, run as a user would: the Dagster CLI in a child process."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent
MATERIALIZE = [
    str(BIN / "dagster"),
    "asset",
    "materialize",
    "--select",
    "*",
    "-m",
    "training_assets.definitions",
]
LOAD_METRICS = (
    "from training_assets.definitions import defs; print(defs.load_asset_value('model_metrics'))"
)


def run(command: list[str], project, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        command,
        cwd=project.root,
        env={**os.environ, **project.env()},
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
    labels = pd.read_csv(project.labels_path, sep="\t")
    labels.loc[0, "trip_completed"] = 5
    labels.to_csv(project.labels_path, sep="\t", index=False)

    result = run(MATERIALIZE, project)
    assert result.returncode != 0
    assert "training_frame_label_domain" in result.stderr
    # The log names the column, the expectation and the offending value.
    assert (
        "column 'trip_completed': expect_column_values_to_be_in_set (label in {0, 1}) failed: "
        "1 of 400 rows unexpected; e.g. trip_completed=5 at driver_id="
    ) in result.stderr
    assert not (project.storage_dir / "model.json").exists()
    assert not (project.storage_dir / "registered_model_version.json").exists()
