"""Faults on the real cluster: a worker (and its executor) SIGKILLed while the join runs, and
a job that cannot succeed. Runs last in this directory (name order): it kills a worker of the
shared cluster and starts a replacement worker before it returns."""

from __future__ import annotations

import threading
import time

import pytest

from training_assets_tests.spark.data import assert_same_frame, duckdb_frame, write_case

pytest.importorskip("pyspark")
pytestmark = [pytest.mark.slow, pytest.mark.spark]


def _executors_on(spark, worker_webui: str):
    from training_assets.spark.executors import application_executors

    return [e for e in application_executors(spark) if e.worker_webui == worker_webui]


def _active_tasks_on(spark, worker_webui: str) -> int:
    from training_assets.spark.cluster import get_json

    context = spark.sparkContext
    url = f"{context.uiWebUrl}/api/v1/applications/{context.applicationId}/executors"
    return sum(
        e["activeTasks"]
        for e in get_json(url)
        if e["id"] != "driver" and worker_webui in e["executorLogs"].get("stdout", "")
    )


def _restore_workers(cluster, count: int = 2) -> None:
    """Replacement workers, registered with the master (this session's application may or
    may not place an executor on them: the lost one may already run on a survivor)."""
    while len(cluster.alive_workers()) < count:
        cluster.add_worker()


def test_worker_killed_mid_join(spark, spark_cluster, tmp_path):
    from training_assets.spark.asof_join import read_frame, write_training_frame

    case = write_case(tmp_path / "data", 11, 2000, 300_000, 300_000)
    expected = duckdb_frame(case)
    destination = tmp_path / "frame"
    victim_index = len(spark_cluster.worker_daemons) - 1
    victim = spark_cluster.worker_daemons[victim_index]
    assert _executors_on(spark, victim.webui), "the victim worker runs no executor of ours"
    outcome: dict = {}

    def join() -> None:
        try:
            outcome["written"] = write_training_frame(
                spark, case.labels_path, case.plan, destination
            )
        except BaseException as error:
            outcome["error"] = error

    try:
        thread = threading.Thread(target=join)
        started = time.monotonic()
        thread.start()
        # Kill once the join has been going a while and the victim is running its tasks.
        while not (time.monotonic() - started > 3 and _active_tasks_on(spark, victim.webui)):
            assert thread.is_alive(), "the join ended before the worker could be killed"
            assert time.monotonic() - started < 300
            time.sleep(0.2)
        killed_at = time.monotonic() - started
        assert thread.is_alive()
        killed = spark_cluster.kill_worker(victim_index)
        thread.join(timeout=600)
        assert not thread.is_alive()
        elapsed = time.monotonic() - started
        lost = _executors_on(spark, victim.webui)
        print(
            f"\nkilled worker pid {killed[0]} (+ executor pids {killed[1:]}) at {killed_at:.1f} s; "
            f"join ended at {elapsed:.1f} s; victim executors {lost}; outcome {outcome}"
        )
        # The victim's executor is gone and the application knows it.
        assert lost and not any(e.active for e in lost)
        if "written" in outcome:
            # Spark re-ran the lost tasks elsewhere: the same frame as DuckDB's.
            assert_same_frame(read_frame(destination), expected, exact_dtypes=True)
        else:
            # Could not recover: a clear error and nothing at the destination.
            assert not destination.exists()
            assert not [p for p in tmp_path.iterdir() if ".staging-" in p.name]
            pytest.fail(f"the join did not recover from a lost worker: {outcome['error']!r}")
    finally:
        _restore_workers(spark_cluster)


def test_failing_job_writes_nothing(spark, tmp_path):
    """A job that fails in the executors (a malformed label timestamp, ANSI cast) raises and
    leaves neither the destination nor a staging directory."""
    from training_assets.spark.asof_join import write_training_frame

    case = write_case(tmp_path / "data", 12, 20, 500, 400)
    lines = case.labels_path.read_text().splitlines()
    lines.insert(200, "not-a-time\t3\t1")
    case.labels_path.write_text("\n".join(lines) + "\n")
    destination = tmp_path / "frame"
    with pytest.raises(Exception, match=r"(?i)cast|timestamp|not-a-time"):
        write_training_frame(spark, case.labels_path, case.plan, destination)
    assert not destination.exists()
    assert not [p for p in tmp_path.iterdir() if ".staging-" in p.name]
