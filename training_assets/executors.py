"""The executor of every run: Dagster's in-process executor, refusing a throw-away instance.

`dagster asset materialize` (and `dg launch`) typed without DAGSTER_HOME run against a
temporary instance in `./.tmp_dagster_home_*` that is deleted when the command exits: the run
would never show in `make dev`, and everything that reads the instance (promotion's check
results, the drift baseline, the sensors' cursors) would see nothing. The instance exists
before the code location is imported (dagster/_cli/asset.py, Dagster 1.13.27), so it cannot
be redirected from here; the run is refused instead, before any step runs, with what to
export. The prefix is Dagster's own `TMP_DAGSTER_HOME_PREFIX` (dagster/_cli/utils.py), kept
fixed "so that consumer projects can reliably manage" it.
"""

from pathlib import Path

import dagster as dg

from training_assets.settings import StorageSettings

TEMPORARY_HOME_PREFIX = ".tmp_dagster_home_"


def refuse_temporary_instance(instance: dg.DagsterInstance) -> None:
    root = None if instance.is_ephemeral else instance.root_directory
    if root and Path(root).name.startswith(TEMPORARY_HOME_PREFIX):
        home = StorageSettings().home
        raise dg.DagsterInvariantViolationError(
            "DAGSTER_HOME is not set, so this run would go to a temporary Dagster instance "
            "that is deleted when the command ends (no run history, no champion checks, no "
            f"drift baseline). Use `make run`, or first: export DAGSTER_HOME={home}"
        )


@dg.executor(name="in_process", config_schema=dg.in_process_executor.config_schema)
def in_process_on_project_instance(init_context: dg.InitExecutorContext) -> dg.Executor:
    refuse_temporary_instance(init_context.instance)
    return dg.in_process_executor.executor_creation_fn(init_context)
