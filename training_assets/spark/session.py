"""A SparkSession with the settings the Spark engine relies on.

- UTC session time zone: timestamps without a zone (CSV text, Parquet TIMESTAMP_NTZ) are read
  as UTC, as Feast and the DuckDB join do; the join's results do not depend on the machine.
- Parquet timestamps written as TIMESTAMP_MICROS (UTC-adjusted), not Spark's legacy INT96, so
  pyarrow/pandas read `timestamp[us, tz=UTC]` back.
- Modest memory by default: 1g driver, 1g per executor, 1 core per executor.
- Few shuffle partitions: the default 200 makes 200 tiny tasks (and files) on two cores.
- On this machine (a `local[N]` master or a standalone master on loopback) the driver binds
  127.0.0.1, like the local cluster; on a real cluster the executors must reach the driver,
  so its address is left to Spark (or `spark.driver.host` in the deployment's Spark conf).
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

LOOPBACK = "127.0.0.1"
DEFAULT_CONF: dict[str, str] = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    "spark.driver.memory": "1g",
    "spark.executor.memory": "1g",
    "spark.executor.cores": "1",
    "spark.sql.shuffle.partitions": "8",
    "spark.ui.showConsoleProgress": "false",
}
LOOPBACK_CONF: dict[str, str] = {
    "spark.driver.host": LOOPBACK,
    "spark.driver.bindAddress": LOOPBACK,
}


def on_loopback(master: str) -> bool:
    """Whether every part of the application runs on this machine: `local[N]`, or a
    standalone master on 127.0.0.1/localhost."""
    if master.startswith("local"):
        return True
    return master.startswith("spark://") and urlsplit(master).hostname in (LOOPBACK, "localhost")


def spark_session(
    master: str, app_name: str = "training-assets", conf: dict[str, str] | None = None
) -> SparkSession:
    """A new (or the running) session on `master` (`spark://127.0.0.1:PORT`, `local[2]`)."""
    import os

    from pyspark.sql import SparkSession

    settings = dict(DEFAULT_CONF)
    if on_loopback(master):
        # The driver JVM that pyspark starts reads this too (its block manager, its web UI).
        os.environ.setdefault("SPARK_LOCAL_IP", LOOPBACK)
        settings |= LOOPBACK_CONF
    builder = SparkSession.builder.master(master).appName(app_name)
    for key, value in {**settings, **(conf or {})}.items():
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
