"""A real standalone Spark cluster (master + 2 workers, separate JVMs on 127.0.0.1) and a
SparkSession on it, shared by every Spark test of the session.

Skipped where the `spark` extra (pyspark) or Java is missing. Modest memory on purpose (the
machine is shared): master and worker daemons 256m each; each worker offers 2 cores and
1536m, so two applications fit at once with one 768m executor per worker each: this
session's (`spark.cores.max` 2) and a pipeline run's started by a test
(`SPARK_CLUSTER_RUN_ENV`); the driver 1g.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator

import pytest

from training_assets.spark.cluster import StandaloneCluster

EXECUTOR_MEMORY = "768m"
# The settings of a pipeline run on the test cluster (plus SPARK_MASTER).
SPARK_CLUSTER_RUN_ENV = {
    "TRAINING_ENGINE": "spark",
    "SPARK_EXECUTOR_MEMORY": EXECUTOR_MEMORY,
    "SPARK_DRIVER_MEMORY": "1g",
    "SPARK_CORES_MAX": "2",
}


def _require_spark() -> None:
    """Skip without pyspark or Java; in CI (CI=true) fail instead: there they must be."""
    missing = None
    try:
        import pyspark  # noqa: F401
    except ImportError:
        missing = "the `spark` extra is not installed (uv sync --frozen --extra spark)"
    if missing is None and shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        missing = "Spark needs Java 17+ (java on PATH or JAVA_HOME)"
    if missing and os.environ.get("CI") == "true":
        pytest.fail(f"Spark tests cannot run in CI: {missing}")
    if missing:
        pytest.skip(missing)


@pytest.fixture(scope="session")
def spark_cluster() -> Iterator[StandaloneCluster]:
    _require_spark()
    cluster = StandaloneCluster(workers=2, worker_cores=2, worker_memory="1536m")
    cluster.start()
    print(f"\nSpark cluster {cluster.master_url}: 2 workers up in {cluster.start_seconds:.1f} s")
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def spark(spark_cluster: StandaloneCluster):
    from training_assets.spark.session import spark_session, stop_session

    started = time.monotonic()
    session = spark_session(
        spark_cluster.master_url,
        app_name="training-assets-tests",
        conf={"spark.cores.max": "2", "spark.executor.memory": EXECUTOR_MEMORY},
    )
    print(f"\nSparkSession on {spark_cluster.master_url} in {time.monotonic() - started:.1f} s")
    try:
        yield session
    finally:
        stop_session(session)
