"""The training job run in process on a given Dagster instance, and what a run stored."""

from __future__ import annotations

import dagster as dg

from training_assets.definitions import build_definitions

# The registered model's name with the default settings.
MODEL_NAME = "sklearn-elastic-net-reg"


def run_training(instance: dg.DagsterInstance) -> tuple[dg.Definitions, dg.ExecuteInProcessResult]:
    """`training_job` with resources from the environment, in this process."""
    defs = build_definitions()
    result = defs.resolve_job_def("training_job").execute_in_process(
        instance=instance, raise_on_error=False
    )
    return defs, result


def materialized(result: dg.ExecuteInProcessResult) -> set[str]:
    """The assets the run stored."""
    return {event.asset_key.to_user_string() for event in result.get_asset_materialization_events()}
