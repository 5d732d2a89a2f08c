"""Which check results a stored value got: the one place that reads them from Dagster.

Dagster 1.13.27's public `DagsterInstance.get_latest_asset_check_evaluation_record` returns
the check's record with the highest id, and ids are given when a run is *created*: a run
waiting in the queue already holds newer, merely planned records, and a run created earlier
can finish later (training_assets_tests/faults/test_run_queue.py). Promotion needs the
newest *finished* evaluation on one particular stored value, so this module reads the
evaluation events of the runs that can hold it with `DagsterInstance.all_logs` (not part of
Dagster's documented API; `test_check_history.py` fails loudly if it changes).

Which value an evaluation judged is not always what Dagster says: Dagster 1.13.27 records as
an unpartitioned check's target the asset's latest materialization when the check runs
(`AssetCheckResult._get_unpartitioned_target_materialization_data`, from the data-version
cache's latest asset record), so with two runs at once the check of one run can be recorded
against the other run's value. A check that ran in the run that stored the value loaded that
value (the IO managers load the value stored in the same run), so there the run decides.
"""

from __future__ import annotations

import dagster as dg


def _reexecutions(instance: dg.DagsterInstance, run_id: str) -> set[str]:
    """Runs that re-execute `run_id`, directly or through another re-execution. Found by the
    runs' `parent_run_id`/`root_run_id`: the `dagster/parent_run_id` tag is only set by the
    UI, GraphQL and the daemon, not by `dg.execute_job(reexecution_options=...)`."""
    record = instance.get_run_record_by_id(run_id)
    if record is None:
        return set()
    later = instance.get_run_records(dg.RunsFilter(created_after=record.create_timestamp))
    return {
        other.dagster_run.run_id
        for other in later
        if run_id in (other.dagster_run.parent_run_id, other.dagster_run.root_run_id)
    }


def newest_evaluation(
    instance: dg.DagsterInstance,
    check: dg.AssetCheckKey,
    materialized_in: str,
    also_look_in: str | None = None,
) -> dg.AssetCheckEvaluation | None:
    """The newest finished evaluation of `check` on the value run `materialized_in` stored.

    Looked for in that run, in `also_look_in` (the run asking) and in its re-executions: a
    re-execution from failure re-runs a check on the parent run's stored value.
    """
    runs = {materialized_in, *([also_look_in] if also_look_in else [])}
    runs.update(_reexecutions(instance, materialized_in))
    newest: tuple[float, dg.AssetCheckEvaluation] | None = None
    for run_id in runs:
        own_value = run_id == materialized_in
        # Another run that stored a value checked its own, whatever the recorded target.
        if not own_value and _materializations(instance, check.asset_key, run_id):
            continue
        for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION):
            evaluation = entry.dagster_event.event_specific_data
            if evaluation.asset_check_key != check:
                continue
            target = evaluation.target_materialization_data
            if not own_value and (target.run_id if target else entry.run_id) != materialized_in:
                continue
            if newest is None or entry.timestamp > newest[0]:
                newest = (entry.timestamp, evaluation)
    return newest[1] if newest else None


def stored_materialization(
    instance: dg.DagsterInstance, asset_key: dg.AssetKey, run_id: str
) -> dg.EventLogEntry | None:
    """The materialization of `asset_key` whose stored value a step of run `run_id` loads: that
    run's own when it materialized the asset (the IO managers load the value stored in the same
    run, io_managers/files.py), else the latest (None: never materialized). Not simply the
    latest: with two runs at once, the latest can be the other run's value, whose checks may
    not have run yet."""
    own = _materializations(instance, asset_key, run_id)
    return own[-1] if own else instance.get_latest_materialization_event(asset_key)


def _materializations(
    instance: dg.DagsterInstance, asset_key: dg.AssetKey, run_id: str
) -> list[dg.EventLogEntry]:
    return [
        entry
        for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION)
        if entry.dagster_event.asset_key == asset_key
    ]
