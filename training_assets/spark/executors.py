"""Which workers' executors ran an application's tasks, from Spark's own REST APIs.

The application's REST API (`<driver UI>/api/v1/applications/<id>/allexecutors`, which also
lists executors that are gone) gives each executor's `completedTasks`; its `executorLogs` URLs
point at the web UI of the worker that launched it, which the master's `/json/` names. That
maps tasks to workers even when all of them run on 127.0.0.1 (same host, different ports).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from training_assets.spark.cluster import get_json

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


@dataclass(frozen=True)
class ExecutorTasks:
    executor_id: str
    worker_webui: str  # http://127.0.0.1:PORT of the worker that launched the executor
    completed_tasks: int
    failed_tasks: int
    active: bool


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def application_executors(spark: SparkSession) -> list[ExecutorTasks]:
    """The application's executors (the driver excluded), live and gone."""
    context = spark.sparkContext
    if not context.uiWebUrl:
        raise RuntimeError("The Spark UI is off (spark.ui.enabled=false): no REST API to ask.")
    url = f"{context.uiWebUrl}/api/v1/applications/{context.applicationId}/allexecutors"
    executors = []
    for entry in get_json(url):
        if entry["id"] == "driver":
            continue
        logs = entry.get("executorLogs") or {}
        executors.append(
            ExecutorTasks(
                executor_id=entry["id"],
                worker_webui=_origin(logs["stdout"]) if "stdout" in logs else "",
                completed_tasks=int(entry["completedTasks"]),
                failed_tasks=int(entry["failedTasks"]),
                active=bool(entry["isActive"]),
            )
        )
    return executors


def executor_task_counts(spark: SparkSession) -> dict[str, dict[str, Any]]:
    """Every executor of the application so far (gone ones too) with the web UI of the
    worker that launched it and its completed tasks. With a `local[N]` master the driver is
    the only executor (worker "driver")."""
    context = spark.sparkContext
    if not context.uiWebUrl:
        return {}
    url = f"{context.uiWebUrl}/api/v1/applications/{context.applicationId}/allexecutors"
    entries = get_json(url)
    local = all(entry["id"] == "driver" for entry in entries)
    counts = {}
    for entry in entries:
        if entry["id"] == "driver" and not local:
            continue
        logs = entry.get("executorLogs") or {}
        counts[entry["id"]] = {
            "worker": _origin(logs["stdout"]) if "stdout" in logs else "driver",
            "host": entry.get("hostPort", ""),
            "completed_tasks": int(entry["completedTasks"]),
            "failed_tasks": int(entry["failedTasks"]),
        }
    return counts


def tasks_since(
    before: dict[str, dict[str, Any]], after: dict[str, dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """Per executor, the tasks completed and failed between two `executor_task_counts`."""
    delta = {}
    for executor, now in after.items():
        then = before.get(executor, {})
        completed = now["completed_tasks"] - then.get("completed_tasks", 0)
        failed = now["failed_tasks"] - then.get("failed_tasks", 0)
        if completed or failed:
            delta[executor] = {**now, "completed_tasks": completed, "failed_tasks": failed}
    return delta


def completed_tasks_by_worker(spark: SparkSession, master_state: dict) -> dict[str, int]:
    """Completed tasks per worker id (every worker the master knows, 0 when none ran)."""
    by_webui = {worker["webuiaddress"]: worker["id"] for worker in master_state["workers"]}
    counts = dict.fromkeys(by_webui.values(), 0)
    for executor in application_executors(spark):
        worker = by_webui.get(executor.worker_webui)
        if worker is None:
            raise RuntimeError(
                f"Executor {executor.executor_id} ran on {executor.worker_webui or '?'}, "
                f"which is none of the master's workers ({sorted(by_webui)})."
            )
        counts[worker] += executor.completed_tasks
    return counts


def assert_workers_ran_tasks(
    spark: SparkSession,
    master_state: dict,
    before: dict[str, int] | None = None,
    minimum_workers: int = 2,
) -> dict[str, int]:
    """Raise unless every ALIVE worker's executors completed tasks (since `before`, a previous
    result of `completed_tasks_by_worker`), and at least `minimum_workers` did."""
    counts = completed_tasks_by_worker(spark, master_state)
    delta = {worker: n - (before or {}).get(worker, 0) for worker, n in counts.items()}
    alive = [w["id"] for w in master_state["workers"] if w["state"] == "ALIVE"]
    idle = [worker for worker in alive if delta.get(worker, 0) <= 0]
    busy = [worker for worker, n in delta.items() if n > 0]
    if idle or len(busy) < minimum_workers:
        raise AssertionError(
            f"Completed tasks per worker {delta}: alive workers without tasks {idle}, "
            f"{len(busy)} worker(s) ran tasks (wanted {minimum_workers})."
        )
    return delta
