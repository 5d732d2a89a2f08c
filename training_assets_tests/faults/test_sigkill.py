"""A run process killed with SIGKILL half-way through an IO manager's write loses nothing.

Real CLI runs on a temp project copy. A `sitecustomize.py` on the child's PYTHONPATH stops
the write of `training_frame.parquet` after its temp file is half written and before the
rename (no test hook in the production code); the test then SIGKILLs the run's process group.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pandas as pd
import pytest

from training_assets_tests.support.processes import (
    KILL_HOOK,
    kill_group,
    materialize,
    run,
    sha256,
    wait_for,
    write_hook,
)

pytestmark = pytest.mark.slow

SELECTION = "feast_registry,training_frame"
LOAD = (
    "from training_assets.definitions import defs; "
    "frame = defs.load_asset_value('training_frame'); print(len(frame))"
)


def load_rows(project, env) -> int:
    loaded = run([sys.executable, "-c", LOAD], project.root, env, timeout=120)
    assert loaded.returncode == 0, loaded.stderr[-3000:]
    return int(loaded.stdout.strip().splitlines()[-1])


def test_sigkill_mid_write_keeps_the_previous_value(project):
    env = {**os.environ, **project.env()}
    first = run(materialize(SELECTION), project.root, env)
    assert first.returncode == 0, first.stderr[-3000:]
    stored = project.stored("training_frame")
    before_hash, before_rows = sha256(stored), load_rows(project, env)
    assert before_rows == 400

    # New labels, so the killed run was writing a different value.
    labels = pd.read_csv(project.labels_path, sep="\t")
    labels.iloc[:-50].to_csv(project.labels_path, sep="\t", index=False)

    marker = project.root / "write-started"
    hooked_env = {
        **env,
        "PYTHONPATH": str(write_hook(project.root / "hook", KILL_HOOK)),
        # Every training_frame version is `<run id>.parquet`: hang on the next .parquet
        # rename into the training_frame folder.
        "FAULT_TARGET_DIR": str(stored.parent),
        "FAULT_MARKER": str(marker),
    }
    killed = subprocess.Popen(
        materialize(SELECTION),
        cwd=project.root,
        env=hooked_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_for(marker.exists, timeout=240)
        temp_name, full_size = wait_for(lambda: marker.read_text().split(), timeout=10)
    finally:
        kill_group(killed)
    assert killed.returncode == -9

    # The half-written temp file is there, the stored version is untouched, still the latest,
    # and still loads.
    temp = stored.parent / os.path.basename(temp_name)
    assert temp.exists() and temp.stat().st_size == int(full_size) // 2
    assert project.stored("training_frame") == stored
    assert sha256(stored) == before_hash
    assert load_rows(project, env) == before_rows

    # The next run succeeds (the stray temp file is ignored) and stores the new value.
    again = run(materialize(SELECTION), project.root, env)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "RUN_SUCCESS" in again.stderr
    assert project.stored("training_frame") != stored
    assert sha256(stored) == before_hash  # the earlier version is kept as it was
    assert load_rows(project, env) == 350
