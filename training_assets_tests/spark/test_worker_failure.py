"""Faults on the real cluster, in the Spark profile's `training_frame` asset materialized by
Dagster (its IO manager publishes the dataset only when the step succeeds): a worker (and its
executor) SIGKILLed while the join runs, and a labels file Spark cannot parse. Runs last in
this directory (name order): it kills a worker of the shared cluster and starts a replacement
worker before it returns."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from training_assets_tests.spark.data import Case, assert_same_frame, duckdb_frame, write_case

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


def _known_drivers_only(case: Case) -> None:
    """Drop the labels of the two drivers without feature rows (the asset refuses them)."""
    labels = pd.read_csv(case.labels_path, sep="\t", dtype=str)
    known = set(pd.read_parquet(case.features_path, columns=["driver_id"])["driver_id"])
    labels = labels[labels["driver_id"].astype("int64").isin(known)]
    labels.to_csv(case.labels_path, sep="\t", index=False)


def _materialize_frame(case: Case, storage: Path, master: str) -> dg.ExecuteInProcessResult:
    """`training_frame` of the Spark profile, in this process (its SparkResource finds this
    session's SparkContext and uses it), from a registry recording `case`'s plan."""
    from training_assets.assets import spark_features
    from training_assets.io_managers.files import JsonIOManager, ParquetIOManager
    from training_assets.resources.feast_store import FeastResource
    from training_assets.resources.labels import LabelsResource
    from training_assets.resources.spark import SparkResource
    from training_assets.spark.asof_join import DECLARED_TYPES

    registry = {
        "project": "worker_failure",
        "feature_views": {"driver_stats": {"features": DECLARED_TYPES}},
        "offline_store": {"type": "asof", "feature_views": {"driver_stats": case.plan}},
    }

    @dg.asset(name="feast_registry", io_manager_key="json_io_manager")
    def feast_registry() -> dict:
        return registry

    resources = {
        "parquet_io_manager": ParquetIOManager(base_dir=str(storage)),
        "json_io_manager": JsonIOManager(base_dir=str(storage)),
        "feast": FeastResource(repo_path=str(case.features_path.parent)),
        "labels": LabelsResource(path=str(case.labels_path)),
        "spark": SparkResource(master=master, shared_dir=str(storage)),
    }
    return dg.materialize(
        [feast_registry, spark_features.training_frame],
        resources=resources,
        raise_on_error=False,
    )


def _nothing_stored(storage: Path) -> None:
    directory = storage / "training_frame"
    assert not (directory / "LATEST").exists()
    assert not [p for p in directory.iterdir() if p.suffix == ".parquet" or ".staging-" in p.name]


def test_worker_killed_mid_join(spark, spark_cluster, tmp_path):
    from training_assets.io_managers.files import dataset_files
    from training_assets.spark.asof_join import read_frame

    case = write_case(tmp_path / "data", 11, 2000, 300_000, 300_000)
    _known_drivers_only(case)
    expected = duckdb_frame(case)
    storage = tmp_path / "storage"
    victim_index = len(spark_cluster.worker_daemons) - 1
    victim = spark_cluster.worker_daemons[victim_index]
    assert _executors_on(spark, victim.webui), "the victim worker runs no executor of ours"
    outcome: dict = {}

    def run() -> None:
        try:
            outcome["result"] = _materialize_frame(case, storage, spark_cluster.master_url)
        except BaseException as error:
            outcome["error"] = error

    try:
        thread = threading.Thread(target=run)
        started = time.monotonic()
        thread.start()
        # Kill once the join has been going a while and the victim is running its tasks.
        while not (time.monotonic() - started > 3 and _active_tasks_on(spark, victim.webui)):
            assert thread.is_alive(), "the run ended before the worker could be killed"
            assert time.monotonic() - started < 300
            time.sleep(0.2)
        killed_at = time.monotonic() - started
        assert thread.is_alive()
        killed = spark_cluster.kill_worker(victim_index)
        thread.join(timeout=600)
        assert not thread.is_alive()
        elapsed = time.monotonic() - started
        lost = _executors_on(spark, victim.webui)
        result = outcome.get("result")
        print(
            f"\nkilled worker pid {killed[0]} (+ executor pids {killed[1:]}) at {killed_at:.1f} s; "
            f"run ended at {elapsed:.1f} s; victim executors {lost}; "
            f"success {result.success if result else outcome}"
        )
        # The victim's executor is gone and the application knows it.
        assert lost and not any(e.active for e in lost)
        assert result is not None, outcome
        if result.success:
            # Spark re-ran the lost tasks elsewhere: the stored version is DuckDB's frame.
            directory = storage / "training_frame"
            version = directory / (directory / "LATEST").read_text()
            assert version.is_dir() and dataset_files(version)
            assert_same_frame(read_frame(version), expected, exact_dtypes=True)
        else:
            # Could not recover: a clear error and nothing stored.
            _nothing_stored(storage)
            failure = result.get_step_failure_events()[0].event_specific_data.error
            pytest.fail(f"the run did not recover from a lost worker: {failure.message}")
    finally:
        _restore_workers(spark_cluster)


def test_a_labels_file_spark_cannot_parse_fails_naming_the_line_and_stores_nothing(
    spark, spark_cluster, tmp_path
):
    """The executors' ANSI cast refuses a malformed timestamp; the step fails with the
    labels resource's message, which names the line, and nothing is stored."""
    case = write_case(tmp_path / "data", 12, 20, 500, 400)
    _known_drivers_only(case)
    lines = case.labels_path.read_text().splitlines()
    lines.insert(200, "not-a-time\t3\t1")
    case.labels_path.write_text("\n".join(lines) + "\n")
    storage = tmp_path / "storage"
    result = _materialize_frame(case, storage, spark_cluster.master_url)
    assert not result.success
    # Dagster wraps the step's own error; its cause is what the step raised.
    failure = result.get_step_failure_events()[0].event_specific_data.error.cause
    assert failure.cls_name == "LabelsError", failure.message
    assert "not-a-time" in failure.message and "line 201" in failure.message
    _nothing_stored(storage)
