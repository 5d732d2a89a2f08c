"""A short, readable account of one run, read back from the Dagster instance's event log.

What `make run` prints at the end instead of Dagster's ~400 log lines (kept in a file and in
the UI): the run's outcome, each asset's, each check's (a failed or warning one with its
figure and limit), the frame's rows, RMSE and MAE, the registered version and its aliases or
why nothing was registered, and how to look further.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import dagster as dg

EVENTS = {
    dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED,
    dg.DagsterEventType.ASSET_MATERIALIZATION,
    dg.DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED,
    dg.DagsterEventType.ASSET_CHECK_EVALUATION,
    dg.DagsterEventType.STEP_FAILURE,
}
# Metadata keys, by preference, that say in one line why a check failed or warned.
_WHY_KEYS = ("summary", "decision", "failed", "problems", "drifted_features", "error")


@dataclass
class CheckOutcome:
    asset: str
    name: str
    passed: bool | None  # None: planned but never evaluated
    warn_only: bool = False
    why: str = ""


@dataclass
class RunSummary:
    run_id: str
    status: str
    planned: list[str] = field(default_factory=list)
    materialized: dict[str, dict[str, Any]] = field(default_factory=dict)
    checks: list[CheckOutcome] = field(default_factory=list)
    step_errors: dict[str, str] = field(default_factory=dict)

    @property
    def succeeded(self) -> bool:
        return self.status == "SUCCESS"


def _plain(value: Any) -> Any:
    return getattr(value, "value", value)


def _innermost_message(error: Any) -> str:
    """The user's own error, not Dagster's wrapper around it: the last cause in the chain."""
    while error is not None and getattr(error, "cause", None) is not None:
        error = error.cause
    message = (getattr(error, "message", "") or "").strip()
    # "LabelsError: Labels file ..." -> drop the class name a person does not need.
    return re.sub(r"^[\w.]+: ", "", message)


def _is_check_failure(error: Any) -> bool:
    """A step failed only because a blocking check did: the check's line says why."""
    return getattr(error, "cls_name", None) == "DagsterAssetCheckFailedError"


def _why(metadata: dict[str, Any]) -> str:
    for key in _WHY_KEYS:
        if key in metadata:
            value = _plain(metadata[key])
            if isinstance(value, dict):
                value = "; ".join(f"{k}: {v}" for k, v in value.items())
            elif isinstance(value, list):
                value = "; ".join(map(str, value))
            return str(value)
    return ""


def read_run(instance: dg.DagsterInstance, run_id: str) -> RunSummary:
    record = instance.get_run_record_by_id(run_id)
    summary = RunSummary(run_id, record.dagster_run.status.value if record else "UNKNOWN")
    evaluated: dict[tuple[str, str], CheckOutcome] = {}
    for entry in instance.all_logs(run_id, of_type=EVENTS):
        event = entry.dagster_event
        data = event.event_specific_data
        kind = event.event_type
        if kind == dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED:
            summary.planned.append(data.asset_key.to_user_string())
        elif kind == dg.DagsterEventType.ASSET_MATERIALIZATION:
            materialization = data.materialization
            summary.materialized[materialization.asset_key.to_user_string()] = {
                key: _plain(value) for key, value in materialization.metadata.items()
            }
        elif kind == dg.DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED:
            key = (data.asset_key.to_user_string(), data.check_name)
            evaluated.setdefault(key, CheckOutcome(*key, passed=None))
        elif kind == dg.DagsterEventType.ASSET_CHECK_EVALUATION:
            key = (data.asset_key.to_user_string(), data.check_name)
            evaluated[key] = CheckOutcome(
                *key,
                passed=data.passed,
                warn_only=data.severity == dg.AssetCheckSeverity.WARN,
                why="" if data.passed else _why(dict(data.metadata)),
            )
        elif kind == dg.DagsterEventType.STEP_FAILURE and not _is_check_failure(data.error):
            summary.step_errors[event.step_key] = _innermost_message(data.error)
    summary.checks = list(evaluated.values())
    return summary


def _asset_outcome(summary: RunSummary, asset: str) -> str:
    if asset in summary.materialized:
        return "stored"
    if asset in summary.step_errors:
        return "FAILED (why: below)"
    return "not stored: skipped after an earlier failure"


def _check_verdict(check: CheckOutcome) -> str:
    if check.passed:
        return "passed"
    if check.passed is None:
        return "not run (its asset was not stored)"
    verdict = "WARN" if check.warn_only else "FAILED"
    return verdict + (f": {check.why[:300]}" if check.why else "")


def _asset_lines(summary: RunSummary) -> list[str]:
    """Stored assets in the order they were stored (the graph's order), each with its checks;
    then the assets not stored, the one whose step failed first."""
    order = [a for a in summary.materialized if a in summary.planned]
    unstored = [a for a in summary.planned if a not in order]
    order += sorted(unstored, key=lambda a: a not in summary.step_errors)
    lines = []
    for asset in order:
        checks = [c for c in summary.checks if c.asset == asset]
        if asset in summary.materialized:
            lines.append(f"  {asset:<28} stored")
            lines += [f"    {c.name:<36} {_check_verdict(c)}" for c in checks]
        else:
            untried = f" ({len(checks)} check(s) not run)" if checks else ""
            lines.append(f"  {asset:<28} {_asset_outcome(summary, asset)}{untried}")
    return lines


def _registration(summary: RunSummary) -> str:
    registered = summary.materialized.get("registered_model_version")
    if registered:
        head = f"{registered.get('name')} version {registered.get('version')}, "
        head += f"aliases {registered.get('aliases', '[]')}"
        return f"{head}: {registered['outcome']}" if "outcome" in registered else head
    if "registered_model_version" not in summary.planned:
        return "not part of this run"
    blocking = [c.name for c in summary.checks if c.passed is False and not c.warn_only]
    if blocking:
        return f"nothing registered: blocking check(s) failed: {', '.join(blocking)}"
    if summary.step_errors:
        return f"nothing registered: step(s) failed: {', '.join(summary.step_errors)}"
    return "nothing registered"


def render(
    summary: RunSummary, *, log_path: str = "", dagster_url: str = "", mlflow_url: str = ""
) -> str:
    frame = summary.materialized.get("training_frame", {})
    metrics = summary.materialized.get("model_metrics", {})
    lines = [
        f"Run {summary.run_id}: {summary.status}",
        "",
        "Assets and their checks:",
        *_asset_lines(summary),
    ]
    lines.append("")
    if "dagster/row_count" in frame:
        lines.append(f"Training frame: {frame['dagster/row_count']:,} rows")
    if "rmse" in metrics:
        lines.append(f"Test metrics: RMSE {metrics['rmse']:.4f}, MAE {metrics['mae']:.4f}")
    lines.append(f"Registry: {_registration(summary)}")
    lines.append("")
    if log_path:
        lines.append(f"Full log: {log_path}")
    if dagster_url:
        lines.append(f"Dagster UI: make dev, then {dagster_url}/runs/{summary.run_id}")
    if mlflow_url:
        lines.append(f"MLflow UI:  make mlflow-ui, then {mlflow_url}")
    # The reason a step failed, last, so it is what a person reads first.
    for step, message in summary.step_errors.items():
        lines += ["", f"Step {step} failed: {message}"]
    return "\n".join(lines)
