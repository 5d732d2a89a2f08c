"""`newest_evaluation` on a real Dagster instance: the evaluation of a blocking check on one
stored value, also when a re-execution from failure re-ran the check.

It reads the event log with `DagsterInstance.all_logs`, which Dagster does not document as
public API (training_assets/domain/check_history.py): if a Dagster upgrade changes it, these
tests fail, naming the module to update.
"""

from __future__ import annotations

import os
import threading
import time

import dagster as dg
import pytest

from training_assets.domain.check_history import newest_evaluation, stored_materialization

VERDICT = "CHECK_HISTORY_TEST_VERDICT"
CHECK = dg.AssetCheckKey(dg.AssetKey("frame"), "frame_is_good")
BROKEN = (
    "DagsterInstance.all_logs no longer gives what training_assets/domain/check_history.py "
    "reads (ASSET_CHECK_EVALUATION entries): update that module for this Dagster version"
)


@dg.asset
def frame() -> int:
    return 1


@dg.asset_check(asset=frame, blocking=True)
def frame_is_good() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=os.environ[VERDICT] == "pass")


@dg.asset(deps=[frame])
def downstream() -> None:
    """Skipped while the blocking check fails."""


def job() -> dg.JobDefinition:
    """Module level, so `dg.reconstructable` can rebuild it for a re-execution."""
    return dg.Definitions(
        assets=[frame, downstream],
        asset_checks=[frame_is_good],
        jobs=[dg.define_asset_job("frame_job", executor_def=dg.in_process_executor)],
    ).resolve_job_def("frame_job")


@pytest.mark.parametrize("verdict", ["pass", "fail"])
def test_finds_the_evaluation_on_the_value_a_run_stored(monkeypatch, verdict):
    monkeypatch.setenv(VERDICT, verdict)
    with dg.instance_for_test() as instance:
        result = dg.materialize([frame, frame_is_good], instance=instance, raise_on_error=False)
        evaluation = newest_evaluation(instance, CHECK, materialized_in=result.run_id)
        other = newest_evaluation(
            instance, dg.AssetCheckKey(dg.AssetKey("frame"), "no_such_check"), result.run_id
        )
    assert evaluation is not None, BROKEN
    assert isinstance(evaluation, dg.AssetCheckEvaluation), BROKEN
    assert evaluation.asset_check_key == CHECK
    assert evaluation.passed is (verdict == "pass")
    assert evaluation.target_materialization_data.run_id == result.run_id
    assert other is None


def test_a_reexecution_that_reran_the_check_on_the_parents_value_is_newest(monkeypatch):
    with dg.instance_for_test() as instance:
        monkeypatch.setenv(VERDICT, "fail")
        parent = dg.execute_job(dg.reconstructable(job), instance)
        assert not parent.success
        before = newest_evaluation(instance, CHECK, materialized_in=parent.run_id)

        # Fixed; re-executed from failure: the check runs again on the parent's stored value.
        monkeypatch.setenv(VERDICT, "pass")
        options = dg.ReexecutionOptions.from_failure(parent.run_id, instance)
        child = dg.execute_job(dg.reconstructable(job), instance, reexecution_options=options)
        assert child.success
        assert {e.step_key for e in child.all_events if e.is_step_start} == {
            "frame_frame_is_good",
            "downstream",
        }
        after = newest_evaluation(instance, CHECK, materialized_in=parent.run_id)
        # Asked from the child itself (as registered_model_version asks from its own run).
        asked_by_child = newest_evaluation(
            instance, CHECK, materialized_in=parent.run_id, also_look_in=child.run_id
        )

    assert before is not None and not before.passed, BROKEN
    assert after is not None and after.passed
    assert after.target_materialization_data.run_id == parent.run_id
    assert asked_by_child is not None and asked_by_child.passed


def test_the_stored_value_is_the_asking_runs_when_it_materialized_the_asset_else_the_latest(
    monkeypatch,
):
    """Two runs at once: the registry of the earlier run must judge the value it loads (its
    own), not the other run's newer one."""
    monkeypatch.setenv(VERDICT, "pass")
    with dg.instance_for_test() as instance:

        def stored_by(run_id: str) -> str | None:
            entry = stored_materialization(instance, frame.key, run_id)
            return entry.run_id if entry else None

        assert stored_by("no-such-run") is None
        first = dg.materialize([frame], instance=instance)
        second = dg.materialize([frame], instance=instance)
        only_downstream = dg.materialize(
            [downstream, frame.to_source_asset()], instance=instance, selection=[downstream]
        )
        assert stored_by(first.run_id) == first.run_id, BROKEN
        assert stored_by(second.run_id) == second.run_id
        assert stored_by(only_downstream.run_id) == second.run_id


# One asset whose check runs in the same step, after its value is stored: run A waits there
# until run B has stored a newer value, as two `dagster asset materialize` at once can.
OTHER_RUN_STORED = threading.Event()
RACED_CHECK = dg.AssetCheckKey(dg.AssetKey("raced"), "raced_is_good")


@dg.asset(check_specs=[dg.AssetCheckSpec("raced_is_good", asset="raced", blocking=True)])
def raced():
    yield dg.Output(1)
    if threading.current_thread().name == "run-a":
        assert OTHER_RUN_STORED.wait(timeout=60)
    yield dg.AssetCheckResult(check_name="raced_is_good", passed=True)


def test_a_check_recorded_against_another_runs_value_still_counts_for_its_own_run():
    OTHER_RUN_STORED.clear()
    with dg.instance_for_test() as instance:
        results: dict[str, dg.ExecuteInProcessResult] = {}

        def run_a() -> None:
            results["a"] = dg.materialize([raced], instance=instance)

        thread = threading.Thread(target=run_a, name="run-a")
        thread.start()
        deadline = time.monotonic() + 60
        while instance.get_latest_materialization_event(raced.key) is None:
            assert time.monotonic() < deadline, "run A never stored its value"
            time.sleep(0.05)
        results["b"] = dg.materialize([raced], instance=instance)  # its check runs too
        OTHER_RUN_STORED.set()
        thread.join(timeout=120)
        OTHER_RUN_STORED.clear()  # nothing left set for a later test in this process
        a, b = results["a"], results["b"]
        [recorded] = a.get_asset_check_evaluations()
        found = newest_evaluation(instance, RACED_CHECK, materialized_in=a.run_id)
        stored = stored_materialization(instance, raced.key, a.run_id)
    # The race happened: Dagster recorded run A's check against run B's value.
    assert recorded.target_materialization_data.run_id == b.run_id, (
        "Dagster now records the checked value's own run: check_history.py's workaround "
        "for the wrong target may be dropped"
    )
    assert stored is not None and stored.run_id == a.run_id
    assert found is not None and found.passed, "run A's own evaluation was not counted for A"
    assert found.target_materialization_data.run_id == b.run_id  # A's own evaluation
