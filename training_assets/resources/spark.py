"""The Spark session of a run, as a Dagster resource (the `spark` profile, TRAINING_ENGINE=spark).

One SparkSession per run process, started on first use by a step that needs it (the code
location never starts one: `import pyspark` happens in `session()`) and kept for the later
steps of the run; stopped with its driver JVM when the process exits (`atexit`), so the
application ends cleanly on the cluster and no JVM outlives the run. (Not a Dagster teardown:
a resource with one counts as a generator, which sensors built with every resource refuse.)
A process that runs several runs (tests) keeps the session while the master stays the same.
The settings are the Spark group of `training_assets/settings.py`. `shared_dir` is the
storage the Spark-written frames are versioned in: the Parquet IO manager's base directory in
this profile, so the executors write a version where the IO manager publishes it.
"""

from __future__ import annotations

import atexit
from typing import TYPE_CHECKING, Any

import dagster as dg
from pydantic import Field

from training_assets.settings import setting_field
from training_assets.spark.executors import executor_task_counts, tasks_since
from training_assets.spark.session import spark_session, stop_session

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

APP_NAME = "training-assets"
# The session this process started, and the settings it was started with.
_STARTED: dict[str, Any] = {}


def _stop_started() -> None:
    session = _STARTED.pop("session", None)
    _STARTED.pop("key", None)
    if session is not None:
        stop_session(session)


class SparkResource(dg.ConfigurableResource):
    """Where Spark runs and with how much; each field is the setting of the same name."""

    master: str = setting_field("spark_master")
    driver_memory: str = setting_field("spark_driver_memory")
    driver_cores: int = setting_field("spark_driver_cores")
    executor_memory: str = setting_field("spark_executor_memory")
    executor_cores: int = setting_field("spark_executor_cores")
    cores_max: int | None = setting_field("spark_cores_max")
    shuffle_partitions: int = setting_field("spark_shuffle_partitions")
    shared_dir: str = Field(
        description="Storage of the Spark-written frames (the Parquet IO manager's base dir)."
    )

    def conf(self) -> dict[str, str]:
        conf = {
            "spark.driver.memory": self.driver_memory,
            "spark.driver.cores": str(self.driver_cores),
            "spark.executor.memory": self.executor_memory,
            "spark.executor.cores": str(self.executor_cores),
            "spark.sql.shuffle.partitions": str(self.shuffle_partitions),
        }
        if self.cores_max:
            conf["spark.cores.max"] = str(self.cores_max)
        return conf

    def session(self) -> SparkSession:
        """The process's session (started on the first call; ~10-25 s on two cores)."""
        try:
            from pyspark import SparkContext
        except ImportError as error:
            raise ImportError(
                "TRAINING_ENGINE=spark needs the `spark` extra: "
                "uv sync --frozen --compile-bytecode --extra spark (and Java 17+)."
            ) from error
        wanted = (self.master, tuple(sorted(self.conf().items())))
        if _STARTED.get("key") not in (None, wanted):
            _stop_started()  # started here for other settings: a session has one master
        if "session" in _STARTED and SparkContext._active_spark_context is not None:
            return _STARTED["session"]
        if SparkContext._active_spark_context is not None:
            # A session this process already runs (a test's, a notebook's): used, never
            # stopped here.
            return spark_session(self.master, APP_NAME, self.conf())
        session = spark_session(self.master, APP_NAME, self.conf())
        if not _STARTED.get("at_exit"):
            atexit.register(_stop_started)
        _STARTED.update(key=wanted, session=session, at_exit=True)
        return session

    def executor_tasks(self) -> dict[str, dict[str, Any]]:
        """Completed tasks per executor so far, and the worker each ran on."""
        return executor_task_counts(self.session())

    def tasks_metadata(self, before: dict[str, dict[str, Any]]) -> dict[str, Any]:
        """What a step's Spark jobs ran where, as asset metadata: tasks per executor since
        `before` (the application's REST API), the master and the application id."""
        spark = self.session()
        return {
            "spark_master": self.master,
            "spark_application": spark.sparkContext.applicationId,
            "spark_tasks": dg.MetadataValue.json(tasks_since(before, self.executor_tasks())),
        }
