"""Data checks on `training_frame`: Great Expectations 1.x suites run as Dagster asset checks.

One blocking check (ERROR) per concern, built from the table in
`domain/validation/frame_checks.py`: schema, completeness, label domain, values, volume and
leakage. The types come from the applied Feast registry (`feast_registry`), so they cannot
drift from the feature definitions. Each check returns its verdict with metadata (a table of
every expectation, offending examples, the path of the full GX result JSON) rather than
raising, so the UI shows the figures, and logs one line per failure for the CLI.

Drift is a WARN check that never blocks; it compares the frame with `drift_baseline`, the
profile of the last frame that passed every blocking check, and only reads it.
"""

from typing import Any

import dagster as dg
import pyarrow.parquet as pq

from training_assets.domain.validation import drift
from training_assets.domain.validation.frame_checks import ASSET, FRAME_CHECKS, FrameCheck
from training_assets.domain.validation.frame_checks_sql import run_stored_frame_check
from training_assets.io_managers.files import StoredVersion
from training_assets.resources.data_validation import DataValidationResource
from training_assets.schema import FEATURES

DRIFT = "training_frame_drift"
DRIFT_BASELINE = "drift_baseline"


def _frame_check(spec: FrameCheck) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=ASSET,
        compute_kind="great_expectations",
        name=spec.name,
        blocking=True,
        additional_ins={"feast_registry": dg.AssetIn("feast_registry")},
        description=spec.description,
    )
    def _check(
        training_frame: StoredVersion,
        feast_registry: dict[str, Any],
        data_validation: DataValidationResource,
    ) -> dg.AssetCheckResult:
        return run_stored_frame_check(spec, training_frame.path, feast_registry, data_validation)

    return _check


# A list: Dagster's module loader collects the checks in it (a new entry in FRAME_CHECKS is a
# new check, nothing else to edit).
frame_checks: list[dg.AssetChecksDefinition] = [_frame_check(spec) for spec in FRAME_CHECKS]
FRAME_CHECK_BY_NAME = {check.check_key.name: check for check in frame_checks}


@dg.asset_check(
    asset=ASSET,
    compute_kind="numpy",
    name=DRIFT,
    blocking=False,
    # Runs after the split, which runs only when every blocking check above passed.
    additional_deps=["train_set"],
    description=(
        "Drift (WARN, never blocks): population stability index of each feature against "
        "drift_baseline, the profile of the last training frame that passed every blocking "
        "check in an earlier run (DATA_DRIFT_MAX_PSI, default 0.2). With no earlier baseline "
        "it passes with 'no baseline'."
    ),
)
def training_frame_drift(
    context: dg.AssetCheckExecutionContext,
    training_frame: StoredVersion,
    data_validation: DataValidationResource,
) -> dg.AssetCheckResult:
    baseline, source = _earlier_baseline(context)
    metadata: dict[str, Any] = {"max_psi_allowed": data_validation.drift_max_psi}
    if baseline is None:
        metadata["baseline"] = "no baseline: no earlier run stored a drift_baseline"
        return dg.AssetCheckResult(
            passed=True, severity=dg.AssetCheckSeverity.WARN, metadata=metadata
        )
    # The feature columns only, however big the frame.
    features = pq.read_table(training_frame.path, columns=list(FEATURES)).to_pandas()
    figures = drift.compare(baseline, features, data_validation.drift_max_psi)
    drifted = [name for name, item in figures.items() if item["drifted"]]
    psi = {name: item["psi"] for name, item in figures.items() if item["psi"] is not None}
    metadata |= {
        "baseline": f"{DRIFT_BASELINE} of {source} ({baseline['rows']} rows)",
        "psi": dg.MetadataValue.json(figures),
        "drifted_features": ", ".join(drifted) or "none",
        **{f"psi_{name}": value for name, value in psi.items()},
        "max_psi": max(psi.values(), default=0.0),
    }
    if drifted:
        dg.get_dagster_logger().warning(
            f"Data check {DRIFT} on {ASSET}: drift in {', '.join(drifted)}: "
            + ", ".join(f"{name} PSI {psi[name]:.3f}" for name in drifted)
            + f" > {data_validation.drift_max_psi}"
        )
    return dg.AssetCheckResult(
        passed=not drifted, severity=dg.AssetCheckSeverity.WARN, metadata=metadata
    )


def _earlier_baseline(
    context: dg.AssetCheckExecutionContext,
) -> tuple[dict[str, Any] | None, str]:
    """The newest drift_baseline stored by a run other than this one (its profile is in the
    materialization's metadata), and which run stored it."""
    records = context.instance.fetch_materializations(dg.AssetKey(DRIFT_BASELINE), limit=5)
    for record in records.records:
        if record.run_id == context.run.run_id:
            continue
        profile = record.asset_materialization.metadata.get("profile")
        if profile is not None:
            return profile.value, f"run {record.run_id}"
    return None, ""
