"""The disk fills while the training frame is written: the run fails naming the problem and
the asset, and the previous version stays the latest, intact and loadable.

Real CLI runs on a temp project copy whose asset storage (TRAINING_STORAGE_DIR) is a small
tmpfs mounted for the test. The first run of the whole graph fits; then the tmpfs is filled
with a filler file to a few hundred KB short, and new labels (500 times as many rows) make the
next frame far bigger than that. Mounting needs root: without it the test skips, except under
CI=true, where it fails (CI runs as root and must run it).
"""

from __future__ import annotations

import os
import subprocess

import pandas as pd
import pytest

from training_assets.sample_data import SampleSize, driver_orders_table, write_labels_csv
from training_assets_tests.support.fingerprints import (
    assert_intact,
    project_fingerprint,
    registry_state,
)
from training_assets_tests.support.processes import run, sha256
from training_assets_tests.support.project import MATERIALIZE, SMALL_SAMPLE

pytestmark = pytest.mark.slow

TMPFS_MB = 32
# Left free for the run's small values (the Feast registry description, ...) ahead of the
# frame; the frame of BIG_LABELS rows needs several MB.
LEAVE_FREE = 256 * 1024
BIG_LABELS = 200_000


def _on_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _unavailable(reason: str) -> None:
    if _on_ci():
        pytest.fail(f"{reason} (CI=true: the disk-full test must run, not skip)")
    pytest.skip(reason)


@pytest.fixture
def small_storage(project):
    """The project's asset storage on a tmpfs of TMPFS_MB, unmounted afterwards."""
    if os.geteuid() != 0:
        _unavailable("mounting a tmpfs needs root")
    storage = project.storage_dir
    storage.mkdir(parents=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={TMPFS_MB}m", "tmpfs", str(storage)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        _unavailable(f"cannot mount a tmpfs on {storage}: {mounted.stderr.strip()}")
    try:
        yield storage
    finally:
        subprocess.run(["umount", str(storage)], check=True, timeout=60)


def fill(directory, leave: int) -> None:
    """A filler file that leaves `leave` bytes free on `directory`'s filesystem."""
    stat = os.statvfs(directory)
    size = stat.f_bavail * stat.f_frsize - leave
    block = b"\0" * (1 << 20)
    with open(directory / "filler.bin", "wb") as handle:
        while size > 0:
            size -= handle.write(block[: min(len(block), size)])


def test_disk_full_while_the_frame_is_written_keeps_the_previous_version(project, small_storage):
    env = {**os.environ, **project.env()}
    first = run(MATERIALIZE, project.root, env, timeout=600)
    assert first.returncode == 0, first.stderr[-3000:]
    stored = project.stored("training_frame")
    frame_dir = stored.parent
    before_hash, before_files = sha256(stored), sorted(os.listdir(frame_dir))
    before_registry = registry_state(project)
    assert before_registry, "the first run registered no model"

    bigger = SampleSize(
        drivers=SMALL_SAMPLE.drivers,
        feature_rows=SMALL_SAMPLE.feature_rows,
        labels=BIG_LABELS,
        seed=SMALL_SAMPLE.seed,
    )
    write_labels_csv(driver_orders_table(bigger), project.labels_path)
    fill(small_storage, LEAVE_FREE)
    before = project_fingerprint(project)

    second = run(MATERIALIZE, project.root, env, timeout=600)
    output = second.stdout + second.stderr
    assert second.returncode != 0, output[-3000:]
    assert "No space left on device" in output, output[-4000:]
    assert "Errno 28" in output, output[-4000:]
    # Dagster's DagsterExecutionHandleOutputError, caused by pyarrow's OSError.
    assert 'while handling output "result" of step "training_frame"' in output, output[-4000:]
    assert "Steps failed: ['training_frame']" in output, output[-4000:]

    # The earlier version is the latest still, byte for byte, and loads.
    assert project.stored("training_frame") == stored
    assert sha256(stored) == before_hash
    assert len(pd.read_parquet(stored)) == SMALL_SAMPLE.labels
    # No half-written version and no temporary file left: atomic_write removed its own.
    assert sorted(os.listdir(frame_dir)) == before_files
    # Nothing stored downstream of the frame, nothing registered.
    assert_intact(before, project_fingerprint(project))
    assert registry_state(project) == before_registry
