"""Feature stage: apply the Feast repository, then build the point-in-time training frame."""

import hashlib
from typing import Any

import dagster as dg
import pandas as pd

from training_assets.resources.feast_store import FeastResource
from training_assets.resources.labels import LabelsResource
from training_assets.schema import (
    FEATURE_REFS,
    FEATURE_VIEW,
    FEATURES,
    TRAINING_FRAME_COLUMNS,
    TRAINING_FRAME_SORT_KEYS,
)

GROUP = "features"

# Pandas dtypes of Feast's value types, for the features the training frame holds.
FEAST_TO_PANDAS_DTYPE = {
    "Float32": "float32",
    "Float64": "float64",
    "Int32": "int32",
    "Int64": "int64",
}


@dg.asset(
    group_name=GROUP,
    io_manager_key="json_io_manager",
    kinds={"feast"},
    description="Feast registry after `feast apply` of feature_repo/: entities and feature views.",
)
def feast_registry(context: dg.AssetExecutionContext, feast: FeastResource) -> dict[str, Any]:
    applied = feast.apply()
    context.log.info(applied.pop("feast_apply_output") or "feast apply: no changes")
    context.add_output_metadata(
        {
            "project": applied["project"],
            "entities": ", ".join(sorted(applied["entities"])),
            "feature_views": ", ".join(sorted(applied["feature_views"])),
            "registry": dg.MetadataValue.json(applied),
        }
    )
    return applied


@dg.asset(
    group_name=GROUP,
    io_manager_key="parquet_io_manager",
    kinds={"feast", "pandas"},
    deps=["driver_orders", "driver_stats_source"],
    description=(
        "Labelled driver orders with the driver_stats features as of each order's time "
        "(point-in-time join in Feast), sorted by event_timestamp and driver_id."
    ),
)
def training_frame(
    context: dg.AssetExecutionContext,
    feast_registry: dict[str, Any],
    feast: FeastResource,
    labels: LabelsResource,
) -> dg.Output[pd.DataFrame]:
    declared = feast_registry["feature_views"].get(FEATURE_VIEW, {}).get("features", {})
    missing = [name for name in FEATURES if name not in declared]
    if missing:
        raise ValueError(
            f"Feature view {FEATURE_VIEW!r} in {feast.repo_path} does not declare {missing}; "
            f"it declares {sorted(declared)}."
        )
    label_rows = labels.read()
    joined = feast.historical_features(label_rows, list(FEATURE_REFS))
    frame = _ordered(joined, declared)
    if len(frame) != len(label_rows):
        # Every label row must survive the join; anything else is a bug in retrieval.
        raise RuntimeError(
            f"Point-in-time join returned {len(frame)} rows for {len(label_rows)} label rows."
        )
    return dg.Output(frame, metadata=_frame_metadata(frame), data_version=_content_version(frame))


def _content_version(frame: pd.DataFrame) -> dg.DataVersion:
    """A hash of the frame's content: the same data gives the same version, run after run."""
    row_hashes = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    return dg.DataVersion(hashlib.sha256(row_hashes.tobytes()).hexdigest()[:16])


def _ordered(joined: pd.DataFrame, declared: dict[str, str]) -> pd.DataFrame:
    """Fixed column order, declared feature dtypes where no value is missing, stable row order."""
    frame = joined[list(TRAINING_FRAME_COLUMNS)].copy()
    for name in FEATURES:
        dtype = FEAST_TO_PANDAS_DTYPE.get(declared[name])
        if dtype and not frame[name].isna().any():
            frame[name] = frame[name].astype(dtype)
    frame = frame.sort_values(list(TRAINING_FRAME_SORT_KEYS), kind="stable")
    return frame.reset_index(drop=True)


def _frame_metadata(frame: pd.DataFrame) -> dict[str, Any]:
    timestamps = frame[TRAINING_FRAME_COLUMNS[0]]
    return {
        "dagster/row_count": len(frame),
        "dagster/column_schema": dg.TableSchema(
            columns=[dg.TableColumn(name, str(dtype)) for name, dtype in frame.dtypes.items()]
        ),
        "rows_without_features": int(frame[list(FEATURES)].isna().any(axis=1).sum()),
        "first_event": str(timestamps.min()) if len(frame) else "",
        "last_event": str(timestamps.max()) if len(frame) else "",
        "preview": dg.MetadataValue.md(frame.head(10).to_markdown(index=False)),
    }
