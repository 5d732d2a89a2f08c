"""Run a Great Expectations 1.x suite on a DataFrame and turn the result into a check result.

GX is imported inside the functions (it takes about 10 s), never when the code location
loads. Validations run in one ephemeral (in-memory) context per process, each with a data
source and suite of its own that are removed afterwards: nothing is written to disk by GX,
and no state is shared between checks or runs. The full GX result JSON is written atomically to
`DataValidationResource.result_path(asset, check)`; the check's metadata carries a readable
table of every expectation (pass/fail, observed value, a few offending values), and a failing
check logs one line per failed expectation so the CLI output names column, rule and values.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dagster as dg

from training_assets.io_managers.atomic import atomic_write

if TYPE_CHECKING:
    import pandas as pd
    from great_expectations.data_context import AbstractDataContext
    from great_expectations.expectations import Expectation

    from training_assets.resources.data_validation import DataValidationResource


@dataclass(frozen=True)
class ExpectationOutcome:
    """One expectation's verdict in a form a person can read."""

    expectation: str
    column: str
    rule: str
    passed: bool
    observed: str
    examples: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "expectation": self.expectation,
            "column": self.column,
            "rule": self.rule,
            "passed": self.passed,
            "observed": self.observed,
            "examples": self.examples,
        }

    def failure_line(self) -> str:
        line = f"column {self.column!r}: {self.expectation} ({self.rule}) failed: {self.observed}"
        if self.examples:
            line += "; e.g. " + "; ".join(self.examples)
        return line


@dataclass(frozen=True)
class SuiteOutcome:
    """The verdict of one suite (or of several batches merged) and the raw GX results."""

    suite: str
    outcomes: list[ExpectationOutcome]
    gx_results: list[dict[str, Any]]

    @property
    def success(self) -> bool:
        return all(outcome.passed for outcome in self.outcomes)

    @property
    def failed(self) -> list[ExpectationOutcome]:
        return [outcome for outcome in self.outcomes if not outcome.passed]

    def failed_by_column(self) -> dict[str, list[str]]:
        failed: dict[str, list[str]] = {}
        for outcome in self.failed:
            failed.setdefault(outcome.column, []).append(outcome.expectation)
        return failed

    def merged(self, other: SuiteOutcome) -> SuiteOutcome:
        return SuiteOutcome(
            suite=self.suite,
            outcomes=[*self.outcomes, *other.outcomes],
            gx_results=[*self.gx_results, *other.gx_results],
        )


def run_suite(
    frame: pd.DataFrame,
    expectations: Sequence[Expectation],
    *,
    suite_name: str,
    index_columns: Iterable[str] = (),
    max_examples: int = 5,
) -> SuiteOutcome:
    """Validate `frame` against the expectations in the process's ephemeral GX context.

    Each validation gets a data source and a suite of its own (unique names), removed again
    afterwards, so validations share nothing but the context itself.
    """
    import great_expectations as gx

    context = _ephemeral_context()
    name = f"{suite_name}-{uuid.uuid4().hex[:12]}"
    batch_definition = (
        context.data_sources.add_pandas(name)
        .add_dataframe_asset(suite_name)
        .add_batch_definition_whole_dataframe("whole_frame")
    )
    suite = context.suites.add(gx.ExpectationSuite(name=name, expectations=expectations))
    index = [name for name in index_columns if name in frame.columns]
    result_format: dict[str, Any] = {
        "result_format": "SUMMARY",
        "partial_unexpected_count": max_examples,
    }
    if index:
        result_format["unexpected_index_column_names"] = index
    try:
        result = gx.ValidationDefinition(name=name, data=batch_definition, suite=suite).run(
            batch_parameters={"dataframe": frame}, result_format=result_format
        )
    finally:
        context.suites.delete(name)
        context.data_sources.delete(name)
    raw = _jsonable(result.to_json_dict())
    raw["suite_name"] = suite_name
    # GX returns results in its own order; report them in the suite's order.
    position = {expectation.id: index for index, expectation in enumerate(suite.expectations)}
    results = sorted(raw["results"], key=lambda r: position.get(r["expectation_config"]["id"], 0))
    raw["results"] = results
    outcomes = [outcome_from_result(item, max_examples) for item in results]
    return SuiteOutcome(suite=suite_name, outcomes=outcomes, gx_results=[raw])


@cache
def _ephemeral_context() -> AbstractDataContext:
    """One in-memory GX context per process (creating one costs ~0.3 s per validation)."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    return gx.get_context(
        mode="ephemeral",
        project_config=DataContextConfig(
            store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
            analytics_enabled=False,
            progress_bars=ProgressBarsConfig(globally=False, metric_calculations=False),
        ),
    )


def _jsonable(value: Any) -> Any:
    """GX's JSON dict, with NaN and anything non-JSON turned into strings or null."""
    return json.loads(json.dumps(value, default=str), parse_constant=lambda _: None)


def outcome_from_result(item: Mapping[str, Any], max_examples: int) -> ExpectationOutcome:
    """One GX validation result (GX's own, or the SQL engine's in GX's shape), readable."""
    config = item["expectation_config"]
    kwargs = config.get("kwargs", {})
    result = item.get("result") or {}
    exception = item.get("exception_info") or {}
    if exception.get("raised_exception"):
        message = (exception.get("exception_message") or "error").strip().splitlines()[0]
        observed = f"could not be evaluated: {message}"
    else:
        observed = _observed(result)
    return ExpectationOutcome(
        expectation=config["type"],
        column=_column_of(kwargs),
        rule=config.get("description") or config["type"].replace("_", " "),
        passed=bool(item["success"]),
        observed=observed,
        examples=[] if item["success"] else _examples(result, kwargs, max_examples),
    )


def _column_of(kwargs: Mapping[str, Any]) -> str:
    if "column" in kwargs:
        return str(kwargs["column"])
    if "column_A" in kwargs:
        return f"{kwargs['column_A']}, {kwargs['column_B']}"
    return "(table)"


def _observed(result: Mapping[str, Any]) -> str:
    if "unexpected_count" in result:
        count, total = result["unexpected_count"], result.get("element_count", 0)
        missing = result.get("missing_count") or 0
        text = f"{count} of {total} rows unexpected"
        if missing and "unexpected_percent_nonmissing" in result:
            text += f" ({missing} missing, ignored)"
        return text
    if "partial_missing_list" in result:
        missing = result["partial_missing_list"]
        return f"missing {missing}" if missing else "all present"
    details = (result.get("details") or {}).get("mismatched")
    if details:
        return "; ".join(f"{key}: {value}" for key, value in details.items() if value)
    return _short(result.get("observed_value"))


def _examples(result: Mapping[str, Any], kwargs: Mapping[str, Any], max_examples: int) -> list[str]:
    rows = result.get("partial_unexpected_index_list") or []
    checked = [kwargs[key] for key in ("column", "column_A", "column_B") if key in kwargs]
    examples = []
    for row in rows[:max_examples]:
        if not isinstance(row, Mapping):
            examples.append(_short(row))
            continue
        values = ", ".join(f"{name}={_short(row.get(name))}" for name in checked)
        where = ", ".join(f"{k}={_short(v)}" for k, v in row.items() if k not in checked)
        examples.append(f"{values} at {where}" if where else values)
    if not examples:
        examples = [_short(value) for value in (result.get("partial_unexpected_list") or [])]
    return examples[:max_examples]


def _short(value: Any, limit: int = 120) -> str:
    if isinstance(value, float) and math.isnan(value):
        return "null"
    if value is None:
        return "null"
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def store_result(
    path: Path, outcome: SuiteOutcome, *, asset: str, check: str, extra: Mapping[str, Any]
) -> Path:
    """Write the full GX result(s) of a check beside the asset values, atomically."""
    document = {
        "asset": asset,
        "check": check,
        "suite": outcome.suite,
        "success": outcome.success,
        "validated_at": datetime.now(UTC).isoformat(),
        "expectations": [item.as_dict() for item in outcome.outcomes],
        "extra": _jsonable(dict(extra)),
        "gx_results": outcome.gx_results,
    }
    text = json.dumps(document, indent=2, default=str)
    atomic_write(path, lambda tmp: tmp.write_text(text + "\n"))
    return path


def markdown_table(outcomes: Sequence[ExpectationOutcome]) -> str:
    lines = [
        "| | column | expectation | rule | observed | offending examples |",
        "|---|---|---|---|---|---|",
    ]
    for item in outcomes:
        cells = [
            "pass" if item.passed else "**FAIL**",
            item.column,
            item.expectation,
            item.rule,
            item.observed,
            "<br>".join(item.examples),
        ]
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(lines)


def check_result(
    outcome: SuiteOutcome,
    settings: DataValidationResource,
    *,
    asset: str,
    check: str,
    extra_metadata: Mapping[str, Any] | None = None,
    extra_failures: Sequence[str] = (),
    severity: dg.AssetCheckSeverity = dg.AssetCheckSeverity.ERROR,
) -> dg.AssetCheckResult:
    """The check's verdict: store the GX result JSON, log the failures, build the metadata."""
    extra = dict(extra_metadata or {})
    path = store_result(
        settings.result_path(asset, check),
        outcome,
        asset=asset,
        check=check,
        extra={key: _plain(value) for key, value in extra.items()},
    )
    passed = outcome.success and not extra_failures
    failure_lines = [item.failure_line() for item in outcome.failed] + list(extra_failures)
    if not passed:
        logger = dg.get_dagster_logger()
        log = logger.warning if severity == dg.AssetCheckSeverity.WARN else logger.error
        log(
            f"Data check {check} on {asset} failed "
            f"({len(failure_lines)} problem(s); full result: {path}):\n  - "
            + "\n  - ".join(failure_lines)
        )
    metadata: dict[str, Any] = {
        "summary": "all expectations met"
        if passed
        else f"{len(failure_lines)} failed: " + " | ".join(failure_lines)[:2000],
        "expectations": dg.MetadataValue.md(markdown_table(outcome.outcomes)),
        "expectation_results": dg.MetadataValue.json([o.as_dict() for o in outcome.outcomes]),
        "evaluated_expectations": len(outcome.outcomes),
        "failed_expectations": len(outcome.failed),
        "failed_columns": ", ".join(sorted(outcome.failed_by_column())) or "none",
        "gx_result_path": dg.MetadataValue.path(str(path)),
        **extra,
    }
    return dg.AssetCheckResult(passed=passed, severity=severity, metadata=metadata)


def _plain(value: Any) -> Any:
    """Metadata values as plain JSON for the stored result."""
    if isinstance(value, dg.MetadataValue):
        return getattr(value, "value", str(value))
    return value
