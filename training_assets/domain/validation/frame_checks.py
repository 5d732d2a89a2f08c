"""The blocking data checks on `training_frame`, as a table: one entry per concern.

Each entry names the check, says what it asserts, and may add what the concern needs beyond
its expectations (the batch GX validates, extra metadata for the UI, extra failure lines).
`training_assets/checks/data_checks.py` turns every entry into a Dagster asset check; a new
check is one more entry here plus its expectations in `gx_suites.py` (tagged with its name).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import dagster as dg
import numpy as np
import pandas as pd

from training_assets.domain.validation.gx_suites import (
    COMPLETENESS,
    LABEL_DOMAIN,
    LEAKAGE,
    ROUNDED_SUFFIX,
    SCHEMA,
    VALUES,
    VOLUME,
    declared_features,
    part,
    training_frame_suite,
)
from training_assets.domain.validation.gx_validation import SuiteOutcome, check_result, run_suite
from training_assets.resources.data_validation import DataValidationResource
from training_assets.schema import ENTITY_KEY, EVENT_TIMESTAMP, FEATURE_TIMESTAMP, FEATURES, TARGET

ASSET = "training_frame"
_INDEX_COLUMNS = (ENTITY_KEY, EVENT_TIMESTAMP)
MAX_DRIVERS_LISTED = 20
Registry = Mapping[str, Any]


@dataclass
class Evidence:
    """What a concern adds to its expectations: the batch GX sees (default: the frame),
    metadata for the UI, and failures the expectations cannot express."""

    batch: pd.DataFrame | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    # Set when the concern cannot be evaluated at all (e.g. the source is gone).
    error: str | None = None


@dataclass(frozen=True)
class FrameCheck:
    name: str
    description: str
    evidence: Callable[[pd.DataFrame, Registry, DataValidationResource], Evidence] = (
        lambda frame, registry, settings: Evidence()
    )


def validate_concern(
    check: str,
    batch: pd.DataFrame,
    feast_registry: Registry,
    settings: DataValidationResource,
    *,
    now: datetime | None = None,
    index_columns: tuple[str, ...] = _INDEX_COLUMNS,
) -> SuiteOutcome:
    """Run the part of the training_frame suite that belongs to `check` on `batch`."""
    suite = training_frame_suite(
        feast_registry,
        min_rows=settings.min_rows,
        now=now or datetime.now(UTC),
        timestamp_unit=_timestamp_unit(batch),
    )
    return run_suite(
        batch,
        part(suite, check),
        suite_name=check,
        index_columns=index_columns,
        max_examples=settings.max_examples,
    )


def run_frame_check(
    check: FrameCheck,
    frame: pd.DataFrame,
    feast_registry: Registry,
    settings: DataValidationResource,
) -> dg.AssetCheckResult:
    """Validate one concern: its expectations on its batch, plus its own evidence."""
    evidence = check.evidence(frame, feast_registry, settings)
    if evidence.error is not None:
        dg.get_dagster_logger().error(
            f"Data check {check.name} on {ASSET} failed: {evidence.error}"
        )
        return dg.AssetCheckResult(passed=False, metadata={"error": evidence.error})
    batch = frame if evidence.batch is None else evidence.batch
    outcome = validate_concern(check.name, batch, feast_registry, settings)
    return check_result(
        outcome,
        settings,
        asset=ASSET,
        check=check.name,
        extra_metadata={"rows": len(frame), **evidence.metadata},
        extra_failures=evidence.failures,
    )


def _timestamp_unit(frame: pd.DataFrame) -> str:
    dtype = frame[EVENT_TIMESTAMP].dtype if EVENT_TIMESTAMP in frame.columns else None
    if isinstance(dtype, pd.DatetimeTZDtype):
        return dtype.unit
    if isinstance(dtype, np.dtype) and dtype.kind == "M":
        return np.datetime_data(dtype)[0]
    return "ns"


# ---- what each concern adds ------------------------------------------------------------


def schema_evidence(dtypes: dict[str, str], nulls: dict[str, int], registry: Registry) -> Evidence:
    """The dtypes pandas sees, the Feast declaration, and why a feature's dtype may differ."""
    hints = [
        f"{name} has nulls, so it is stored as {dtypes[name]}: see training_frame_completeness"
        for name in FEATURES
        if name in dtypes and nulls.get(name)
    ]
    metadata: dict[str, Any] = {
        "dtypes": dg.MetadataValue.json(dtypes),
        "feast_feature_types": dg.MetadataValue.json(declared_features(registry)),
    }
    if hints:
        metadata["hint"] = "; ".join(hints)
    return Evidence(metadata=metadata)


def _schema(frame: pd.DataFrame, registry: Registry, _: DataValidationResource) -> Evidence:
    dtypes = {name: str(dtype) for name, dtype in frame.dtypes.items()}
    nulls = {name: int(frame[name].isna().sum()) for name in FEATURES if name in frame.columns}
    return schema_evidence(dtypes, nulls, registry)


def _completeness(frame: pd.DataFrame, _: Registry, __: DataValidationResource) -> Evidence:
    features = [name for name in FEATURES if name in frame.columns]
    null_counts = {name: int(frame[name].isna().sum()) for name in frame.columns}
    nulls = frame[features].isna()
    without = frame[nulls.all(axis=1)] if features else frame.iloc[:0]
    metadata: dict[str, Any] = {
        "null_counts": dg.MetadataValue.json(null_counts),
        "label_rows_without_feature_row": len(without),
        "label_rows_with_some_null_features": int((nulls.any(axis=1) & ~nulls.all(axis=1)).sum()),
    }
    if len(without):
        drivers = sorted(without[ENTITY_KEY].unique().tolist()) if ENTITY_KEY in frame else []
        shown = ", ".join(map(str, drivers[:MAX_DRIVERS_LISTED]))
        more = len(drivers) - MAX_DRIVERS_LISTED
        metadata["drivers_without_features"] = shown + (f" (+{more} more)" if more > 0 else "")
        if EVENT_TIMESTAMP in frame:
            times = without[EVENT_TIMESTAMP]
            metadata["time_range_without_features"] = f"{times.min()} .. {times.max()}"
        metadata["example_rows"] = dg.MetadataValue.md(without.head(5).to_markdown(index=False))
    return Evidence(metadata=metadata)


def class_counts(frame: pd.DataFrame) -> dict[str, int]:
    if TARGET not in frame:
        return {}
    counts = frame[TARGET].value_counts(dropna=False).sort_index()
    return {str(k): int(v) for k, v in counts.items()}


def class_counts_metadata(counts: dict[str, int]) -> dict[str, Any]:
    return {"class_counts": dg.MetadataValue.json(counts)} if counts else {}


def _label_domain(frame: pd.DataFrame, _: Registry, __: DataValidationResource) -> Evidence:
    return Evidence(metadata=class_counts_metadata(class_counts(frame)))


def _values(frame: pd.DataFrame, registry: Registry, _: DataValidationResource) -> Evidence:
    batch = _widened(frame)
    for name, feast_type in declared_features(registry).items():
        if feast_type.startswith("Int") and name in batch.columns:
            batch[name + ROUNDED_SUFFIX] = pd.to_numeric(batch[name], errors="coerce").round()
    ranges = {
        name: f"{frame[name].min()} .. {frame[name].max()}"
        for name in (*FEATURES, EVENT_TIMESTAMP)
        if name in frame.columns and len(frame)
    }
    # One copy that consolidates the columns into one block per dtype: GX copies the batch
    # for each metric, and copying a fragmented frame re-merges its blocks every time.
    return Evidence(batch=batch.copy(), metadata={"observed_ranges": dg.MetadataValue.json(ranges)})


def _widened(frame: pd.DataFrame) -> pd.DataFrame:
    """A shallow copy with float32/int32 (and other narrow) numeric columns as float64/int64.

    GX's pandas `expect_column_values_to_be_between` is vectorized only for int64 and
    float64 columns; on the declared float32/int32 features it calls a Python function per
    value (about 4 s per million rows for the three features). Widening is exact, so the
    verdict and the offending values are the same; dtypes are the schema check's concern.
    """
    batch = frame.copy(deep=False)
    for name, dtype in frame.dtypes.items():
        if not isinstance(dtype, np.dtype):  # extension dtypes (nullable ints, ...) as they are
            continue
        if pd.api.types.is_float_dtype(dtype) and dtype != np.float64:
            batch[name] = frame[name].astype("float64")
        elif pd.api.types.is_signed_integer_dtype(dtype) and dtype != np.int64:
            batch[name] = frame[name].astype("int64")
    return batch


def _volume(frame: pd.DataFrame, _: Registry, settings: DataValidationResource) -> Evidence:
    return Evidence(
        metadata={"min_rows": settings.min_rows, **class_counts_metadata(class_counts(frame))}
    )


def _leakage(frame: pd.DataFrame, registry: Registry, settings: DataValidationResource) -> Evidence:
    from training_assets.domain.validation import leakage

    source = leakage.FeatureSource.from_registry(registry)
    try:
        recomputed = leakage.with_as_of_features(frame, source)
    except (FileNotFoundError, KeyError, ValueError) as error:
        return Evidence(error=f"cannot recompute the features from {source.path}: {error}")
    mismatches = leakage.mismatched_rows(recomputed)
    explanations = leakage.explain(mismatches, source, settings.max_examples)
    age = recomputed[EVENT_TIMESTAMP] - recomputed[FEATURE_TIMESTAMP]
    metadata: dict[str, Any] = {
        "feature_source": dg.MetadataValue.path(source.path),
        "ttl_seconds": source.ttl_seconds or 0,
        "rows_differing_from_as_of": len(mismatches),
        "max_feature_age": str(age.max()) if age.notna().any() else "n/a",
    }
    if explanations:
        metadata["explanations"] = dg.MetadataValue.md("\n".join(f"- {x}" for x in explanations))
    return Evidence(batch=recomputed, metadata=metadata, failures=explanations)


FRAME_CHECKS: tuple[FrameCheck, ...] = (
    FrameCheck(
        SCHEMA,
        "Schema: exactly the label columns and the Feast features; feature dtypes as the Feast "
        "feature view declares them (read from feast_registry), driver_id as the entity's "
        "type, an int64 label and a UTC event_timestamp.",
        _schema,
    ),
    FrameCheck(
        COMPLETENESS,
        "Completeness: no nulls in any column. A label row with null features found no "
        "feature row of its driver at or before its time (within the ttl): the metadata names "
        "those drivers and the time range.",
        _completeness,
    ),
    FrameCheck(
        LABEL_DOMAIN,
        "Label domain: trip_completed takes only the values 0 and 1.",
        _label_domain,
    ),
    FrameCheck(
        VALUES,
        "Values: conv_rate and acc_rate in [0, 1], avg_daily_trips a non-negative whole "
        "number, event_timestamp not in the future.",
        _values,
    ),
    FrameCheck(
        VOLUME,
        "Volume: at least DATA_MIN_ROWS rows (default 100), and both label classes present.",
        _volume,
    ),
    FrameCheck(
        LEAKAGE,
        "Leakage: each row's features are recomputed independently from the Feast source "
        "file (DuckDB ASOF join: latest row at or before the event, within the ttl, ties "
        "broken by the latest created) and must equal the frame's. A value observed after "
        "the event, or one that is not in the source, fails the check.",
        _leakage,
    ),
)
