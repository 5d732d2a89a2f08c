"""A SparkSession with the settings the Spark engine relies on.

- UTC session time zone: timestamps without a zone (CSV text, Parquet TIMESTAMP_NTZ) are read
  as UTC, as Feast and the DuckDB join do; the join's results do not depend on the machine.
- Parquet timestamps written as TIMESTAMP_MICROS (UTC-adjusted), not Spark's legacy INT96, so
  pyarrow/pandas read `timestamp[us, tz=UTC]` back.
- Driver bound to 127.0.0.1 (the local standalone cluster listens only there) and modest
  memory: 1g driver, 1g per executor, 1 core per executor (one per worker).
- Few shuffle partitions: the default 200 makes 200 tiny tasks (and files) on two cores.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

DEFAULT_CONF: dict[str, str] = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.driver.memory": "1g",
    "spark.executor.memory": "1g",
    "spark.executor.cores": "1",
    "spark.sql.shuffle.partitions": "8",
    "spark.ui.showConsoleProgress": "false",
}


def spark_session(
    master: str, app_name: str = "training-assets", conf: dict[str, str] | None = None
) -> SparkSession:
    """A new (or the running) session on `master` (`spark://127.0.0.1:PORT`, `local[2]`)."""
    import os

    from pyspark.sql import SparkSession

    # The driver JVM that pyspark starts reads this too (its block manager, its web UI).
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    builder = SparkSession.builder.master(master).appName(app_name)
    for key, value in {**DEFAULT_CONF, **(conf or {})}.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("WARN")
    return session


def stop_session(session: SparkSession) -> None:
    """Stop the session and the driver JVM pyspark started for it (by its own PID).

    pyspark keeps that JVM for the life of the Python process; when Python exits first the
    JVM is orphaned and, where nothing reaps orphans, lingers as a zombie. Ending it here,
    and waiting for it, leaves nothing behind; a later `spark_session` starts a new one.
    """
    from pyspark import SparkContext

    session.stop()
    gateway = SparkContext._gateway
    process = getattr(gateway, "proc", None)
    if gateway is None:
        return
    gateway.shutdown()
    SparkContext._gateway = None
    SparkContext._jvm = None
    if process is not None and process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=30)
        except Exception:
            process.kill()
            process.wait(timeout=30)
