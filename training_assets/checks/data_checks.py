"""Data checks on `training_frame`: Great Expectations 1.x suites run as Dagster asset checks.

One check per concern, each blocking on its own (`blocking=True`, ERROR): schema,
completeness, label domain, values, volume and leakage. Drift is a WARN check that never
blocks. The expectations live in `gx_suites.py` (one suite per asset, each expectation tagged
with its check); the types come from the applied Feast registry (`feast_registry`), so they
cannot drift from the feature definitions. Each check returns its verdict with metadata (a
table of every expectation, offending examples, the path of the full GX result JSON) rather
than raising, so the UI shows the figures, and logs one line per failure for the CLI.
"""

from datetime import UTC, datetime
from typing import Any

import dagster as dg
import numpy as np
import pandas as pd

from training_assets.checks import drift
from training_assets.checks.gx_suites import (
    COMPLETENESS,
    FEATURE_TIMESTAMP,
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
from training_assets.checks.gx_validation import SuiteOutcome, check_result, run_suite
from training_assets.resources.data_validation import DataValidationSettings
from training_assets.schema import ENTITY_KEY, EVENT_TIMESTAMP, FEATURES, TARGET

ASSET = "training_frame"
DRIFT = "training_frame_drift"
_REGISTRY_IN = {"feast_registry": dg.AssetIn("feast_registry")}
_INDEX_COLUMNS = (ENTITY_KEY, EVENT_TIMESTAMP)
_MAX_DRIVERS_LISTED = 20


def _timestamp_unit(frame: pd.DataFrame) -> str:
    dtype = frame[EVENT_TIMESTAMP].dtype if EVENT_TIMESTAMP in frame.columns else None
    if isinstance(dtype, pd.DatetimeTZDtype):
        return dtype.unit
    if isinstance(dtype, np.dtype) and dtype.kind == "M":
        return np.datetime_data(dtype)[0]
    return "ns"


def validate_concern(
    check: str,
    batch: pd.DataFrame,
    feast_registry: dict[str, Any],
    settings: DataValidationSettings,
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


def _result(
    check: str,
    outcome: SuiteOutcome,
    settings: DataValidationSettings,
    frame: pd.DataFrame,
    extra: dict[str, Any] | None = None,
    extra_failures: list[str] | None = None,
) -> dg.AssetCheckResult:
    return check_result(
        outcome,
        settings,
        asset=ASSET,
        check=check,
        extra_metadata={"rows": len(frame), **(extra or {})},
        extra_failures=extra_failures or (),
    )


@dg.asset_check(
    asset=ASSET,
    compute_kind="great_expectations",
    name=SCHEMA,
    blocking=True,
    additional_ins=_REGISTRY_IN,
    description=(
        "Schema: exactly the label columns and the Feast features; feature dtypes as the Feast "
        "feature view declares them (read from feast_registry), driver_id as the entity's "
        "type, an int64 label and a UTC event_timestamp."
    ),
)
def training_frame_schema(
    training_frame: pd.DataFrame,
    feast_registry: dict[str, Any],
    data_validation: DataValidationSettings,
) -> dg.AssetCheckResult:
    outcome = validate_concern(SCHEMA, training_frame, feast_registry, data_validation)
    dtypes = {name: str(dtype) for name, dtype in training_frame.dtypes.items()}
    hints = []
    for name in FEATURES:
        if name in training_frame.columns and training_frame[name].isna().any():
            hints.append(
                f"{name} has nulls, so it is stored as {dtypes[name]}: "
                "see training_frame_completeness"
            )
    return _result(
        SCHEMA,
        outcome,
        data_validation,
        training_frame,
        extra={
            "dtypes": dg.MetadataValue.json(dtypes),
            "feast_feature_types": dg.MetadataValue.json(declared_features(feast_registry)),
            **({"hint": "; ".join(hints)} if hints and not outcome.success else {}),
        },
    )


@dg.asset_check(
    asset=ASSET,
    compute_kind="great_expectations",
    name=COMPLETENESS,
    blocking=True,
    additional_ins=_REGISTRY_IN,
    description=(
        "Completeness: no nulls in any column. A label row with null features found no "
        "feature row of its driver at or before its time (within the ttl): the metadata names "
        "those drivers and the time range."
    ),
)
def training_frame_completeness(
    training_frame: pd.DataFrame,
    feast_registry: dict[str, Any],
    data_validation: DataValidationSettings,
) -> dg.AssetCheckResult:
    outcome = validate_concern(COMPLETENESS, training_frame, feast_registry, data_validation)
    return _result(
        COMPLETENESS,
        outcome,
        data_validation,
        training_frame,
        extra=_missing_features(training_frame),
    )


def _missing_features(frame: pd.DataFrame) -> dict[str, Any]:
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
        shown = ", ".join(map(str, drivers[:_MAX_DRIVERS_LISTED]))
        more = len(drivers) - _MAX_DRIVERS_LISTED
        metadata["drivers_without_features"] = shown + (f" (+{more} more)" if more > 0 else "")
        if EVENT_TIMESTAMP in frame:
            times = without[EVENT_TIMESTAMP]
            metadata["time_range_without_features"] = f"{times.min()} .. {times.max()}"
        metadata["example_rows"] = dg.MetadataValue.md(without.head(5).to_markdown(index=False))
    return metadata


@dg.asset_check(
    asset=ASSET,
    compute_kind="great_expectations",
    name=LABEL_DOMAIN,
    blocking=True,
    additional_ins=_REGISTRY_IN,
    description="Label domain: trip_completed takes only the values 0 and 1.",
)
def training_frame_label_domain(
    training_frame: pd.DataFrame,
    feast_registry: dict[str, Any],
    data_validation: DataValidationSettings,
) -> dg.AssetCheckResult:
    outcome = validate_concern(LABEL_DOMAIN, training_frame, feast_registry, data_validation)
    return _result(
        LABEL_DOMAIN, outcome, data_validation, training_frame, extra=_class_counts(training_frame)
    )


def _class_counts(frame: pd.DataFrame) -> dict[str, Any]:
    if TARGET not in frame:
        return {}
    counts = frame[TARGET].value_counts(dropna=False).sort_index()
    return {"class_counts": dg.MetadataValue.json({str(k): int(v) for k, v in counts.items()})}


@dg.asset_check(
    asset=ASSET,
    compute_kind="great_expectations",
    name=VALUES,
    blocking=True,
    additional_ins=_REGISTRY_IN,
    description=(
        "Values: conv_rate and acc_rate in [0, 1], avg_daily_trips a non-negative whole "
        "number, event_timestamp not in the future."
    ),
)
def training_frame_values(
    training_frame: pd.DataFrame,
    feast_registry: dict[str, Any],
    data_validation: DataValidationSettings,
) -> dg.AssetCheckResult:
    batch = _widened(training_frame)
    for name, feast_type in declared_features(feast_registry).items():
        if feast_type.startswith("Int") and name in batch.columns:
            batch[name + ROUNDED_SUFFIX] = pd.to_numeric(batch[name], errors="coerce").round()
    # One copy that consolidates the columns into one block per dtype: GX copies the batch
    # for each metric, and copying a fragmented frame re-merges its blocks every time.
    batch = batch.copy()
    outcome = validate_concern(VALUES, batch, feast_registry, data_validation)
    ranges = {
        name: f"{training_frame[name].min()} .. {training_frame[name].max()}"
        for name in (*FEATURES, EVENT_TIMESTAMP)
        if name in training_frame.columns and len(training_frame)
    }
    return _result(
        VALUES,
        outcome,
        data_validation,
        training_frame,
        extra={"observed_ranges": dg.MetadataValue.json(ranges)},
    )


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


@dg.asset_check(
    asset=ASSET,
    compute_kind="great_expectations",
    name=VOLUME,
    blocking=True,
    additional_ins=_REGISTRY_IN,
    description=(
        "Volume: at least DATA_MIN_ROWS rows (default 100), and both label classes present."
    ),
)
def training_frame_volume(
    training_frame: pd.DataFrame,
    feast_registry: dict[str, Any],
    data_validation: DataValidationSettings,
) -> dg.AssetCheckResult:
    outcome = validate_concern(VOLUME, training_frame, feast_registry, data_validation)
    return _result(
        VOLUME,
        outcome,
        data_validation,
        training_frame,
        extra={"min_rows": data_validation.min_rows, **_class_counts(training_frame)},
    )


@dg.asset_check(
    asset=ASSET,
    compute_kind="great_expectations",
    name=LEAKAGE,
    blocking=True,
    additional_ins=_REGISTRY_IN,
    description=(
        "Leakage: each row's features are recomputed independently from the Feast source "
        "file (DuckDB ASOF join: latest row at or before the event, within the ttl, ties "
        "broken by the latest created) and must equal the frame's. A value observed after "
        "the event, or one that is not in the source, fails the check."
    ),
)
def training_frame_leakage(
    training_frame: pd.DataFrame,
    feast_registry: dict[str, Any],
    data_validation: DataValidationSettings,
) -> dg.AssetCheckResult:
    from training_assets.checks import leakage

    source = leakage.FeatureSource.from_registry(feast_registry)
    try:
        recomputed = leakage.with_as_of_features(training_frame, source)
    except (FileNotFoundError, KeyError, ValueError) as error:
        message = f"cannot recompute the features from {source.path}: {error}"
        dg.get_dagster_logger().error(f"Data check {LEAKAGE} on {ASSET} failed: {message}")
        return dg.AssetCheckResult(passed=False, metadata={"error": message})
    outcome = validate_concern(LEAKAGE, recomputed, feast_registry, data_validation)
    mismatches = leakage.mismatched_rows(recomputed)
    explanations = leakage.explain(mismatches, source, data_validation.max_examples)
    age = recomputed[EVENT_TIMESTAMP] - recomputed[FEATURE_TIMESTAMP]
    extra: dict[str, Any] = {
        "feature_source": dg.MetadataValue.path(source.path),
        "ttl_seconds": source.ttl_seconds or 0,
        "rows_differing_from_as_of": len(mismatches),
        "max_feature_age": str(age.max()) if age.notna().any() else "n/a",
    }
    if explanations:
        extra["explanations"] = dg.MetadataValue.md("\n".join(f"- {x}" for x in explanations))
    return _result(LEAKAGE, outcome, data_validation, training_frame, extra, explanations)


@dg.asset_check(
    asset=ASSET,
    compute_kind="numpy",
    name=DRIFT,
    blocking=False,
    # Runs after the split, which runs only when every blocking check above passed: only
    # such frames become the next drift baseline.
    additional_deps=["train_set"],
    description=(
        "Drift (WARN, never blocks): population stability index of each feature against the "
        "training frame of the last successful materialization (DATA_DRIFT_MAX_PSI, default "
        "0.2). The first run passes with 'no baseline'."
    ),
)
def training_frame_drift(
    context: dg.AssetCheckExecutionContext,
    training_frame: pd.DataFrame,
    data_validation: DataValidationSettings,
) -> dg.AssetCheckResult:
    path = data_validation.drift_baseline_path(ASSET)
    baseline = drift.load_baseline(path)
    metadata: dict[str, Any] = {"max_psi_allowed": data_validation.drift_max_psi}
    if baseline is None:
        passed, drifted = True, []
        metadata["baseline"] = "no baseline: this is the first successful materialization"
    else:
        figures = drift.compare(baseline, training_frame, data_validation.drift_max_psi)
        drifted = [name for name, item in figures.items() if item["drifted"]]
        passed = not drifted
        metadata |= {
            "baseline": (
                f"run {baseline['run_id']} ({baseline['rows']} rows, {baseline['saved_at']})"
            ),
            "psi": dg.MetadataValue.json(figures),
            "drifted_features": ", ".join(drifted) or "none",
            **{
                f"psi_{name}": item["psi"]
                for name, item in figures.items()
                if item["psi"] is not None
            },
            "max_psi": max((item["psi"] or 0.0 for item in figures.values()), default=0.0),
        }
    if _split_in_this_run(context):
        drift.save_baseline(
            path, training_frame, FEATURES, data_validation.drift_bins, context.run.run_id
        )
        metadata["baseline_updated"] = (
            f"yes: this frame (run {context.run.run_id}) is the new baseline"
        )
    else:
        metadata["baseline_updated"] = "no: this run did not split the frame"
    metadata["baseline_path"] = dg.MetadataValue.path(str(path))
    if not passed:
        dg.get_dagster_logger().warning(
            f"Data check {DRIFT} on {ASSET}: drift in {', '.join(drifted)}: "
            + ", ".join(f"{name} PSI {metadata[f'psi_{name}']:.3f}" for name in drifted)
            + f" > {data_validation.drift_max_psi}"
        )
    return dg.AssetCheckResult(
        passed=passed, severity=dg.AssetCheckSeverity.WARN, metadata=metadata
    )


def _split_in_this_run(context: dg.AssetCheckExecutionContext) -> bool:
    """True when train_set was materialized in this run: every blocking check had passed."""
    event = context.instance.get_latest_materialization_event(dg.AssetKey("train_set"))
    return event is not None and event.run_id == context.run.run_id
