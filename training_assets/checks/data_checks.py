"""Blocking data checks on `training_frame` (the seed's data validation, and a bit more).

Expected columns and feature dtypes come from the applied Feast registry (`feast_registry`),
not from a copied list, so the checks cannot drift from the feature definitions.
Each check returns its verdict with metadata instead of raising, so the UI shows the figures.
"""

from typing import Any

import dagster as dg
import pandas as pd

from training_assets.assets.features import FEAST_TO_PANDAS_DTYPE
from training_assets.schema import (
    ENTITY_KEY,
    EVENT_TIMESTAMP,
    FEATURE_VIEW,
    FEATURES,
    TARGET,
    TRAINING_FRAME_COLUMNS,
)

_REGISTRY_IN = {"feast_registry": dg.AssetIn("feast_registry")}
_EXAMPLES = 5


def _declared_features(feast_registry: dict[str, Any]) -> dict[str, str]:
    return feast_registry["feature_views"][FEATURE_VIEW]["features"]


@dg.asset_check(
    asset="training_frame",
    blocking=True,
    description="Exactly the expected columns: label columns plus the Feast features, no others.",
)
def training_frame_columns(training_frame: pd.DataFrame) -> dg.AssetCheckResult:
    expected = list(TRAINING_FRAME_COLUMNS)
    present = list(training_frame.columns)
    missing = [name for name in expected if name not in present]
    unexpected = [name for name in present if name not in expected]
    return dg.AssetCheckResult(
        passed=not missing and not unexpected,
        metadata={
            "missing_columns": ", ".join(missing) or "none",
            "unexpected_columns": ", ".join(unexpected) or "none",
            "expected_columns": ", ".join(expected),
        },
    )


@dg.asset_check(
    asset="training_frame",
    blocking=True,
    additional_ins=_REGISTRY_IN,
    description=(
        "Dtypes: features as declared by the Feast feature view, driver_id and the label "
        "integers, event_timestamp a timezone-aware datetime."
    ),
)
def training_frame_dtypes(
    training_frame: pd.DataFrame, feast_registry: dict[str, Any]
) -> dg.AssetCheckResult:
    declared = _declared_features(feast_registry)
    expected = {name: FEAST_TO_PANDAS_DTYPE.get(declared.get(name, ""), "?") for name in FEATURES}
    expected |= {ENTITY_KEY: "int64", TARGET: "int64"}
    actual = {name: str(dtype) for name, dtype in training_frame.dtypes.items()}
    wrong = {
        name: f"expected {dtype}, got {actual[name]}"
        for name, dtype in expected.items()
        if name in actual and actual[name] != dtype
    }
    timestamp = training_frame.get(EVENT_TIMESTAMP)
    if timestamp is not None and not isinstance(timestamp.dtype, pd.DatetimeTZDtype):
        wrong[EVENT_TIMESTAMP] = f"expected a timezone-aware datetime, got {timestamp.dtype}"
    return dg.AssetCheckResult(
        passed=not wrong,
        metadata={
            "wrong_dtypes": dg.MetadataValue.json(wrong),
            "dtypes": dg.MetadataValue.json(actual),
        },
    )


@dg.asset_check(
    asset="training_frame",
    blocking=True,
    description=(
        "No nulls in the features or the label. A null feature means no feature row of that "
        "driver within the ttl before the order: a gap in the feature source."
    ),
)
def training_frame_no_nulls(training_frame: pd.DataFrame) -> dg.AssetCheckResult:
    columns = [name for name in (*FEATURES, TARGET) if name in training_frame.columns]
    null_counts = {name: int(training_frame[name].isna().sum()) for name in columns}
    rows_with_nulls = training_frame[training_frame[columns].isna().any(axis=1)]
    metadata: dict[str, Any] = {
        "null_counts": dg.MetadataValue.json(null_counts),
        "rows_with_nulls": len(rows_with_nulls),
    }
    if len(rows_with_nulls):
        metadata["drivers_without_features"] = ", ".join(
            map(str, sorted(rows_with_nulls[ENTITY_KEY].unique())[:20])
        )
        metadata["example_rows"] = dg.MetadataValue.md(
            rows_with_nulls.head(_EXAMPLES).to_markdown(index=False)
        )
    return dg.AssetCheckResult(passed=not len(rows_with_nulls), metadata=metadata)


@dg.asset_check(
    asset="training_frame",
    blocking=True,
    description="The label trip_completed takes only the values 0 and 1.",
)
def training_frame_label_domain(training_frame: pd.DataFrame) -> dg.AssetCheckResult:
    labels = training_frame[TARGET].dropna()
    bad = labels[~labels.isin([0, 1])]
    return dg.AssetCheckResult(
        passed=bad.empty,
        metadata={
            "rows_outside_0_1": len(bad),
            "example_values": ", ".join(map(str, bad.unique()[:_EXAMPLES])) or "none",
            "class_counts": dg.MetadataValue.json(
                {str(key): int(count) for key, count in labels.value_counts().items()}
            ),
        },
    )
