"""Feature stage: apply the Feast repository, then build the point-in-time training frame.

When the feature repo's offline store is the ASOF store
(`training_assets.feast_offline_store.asof_store`), `training_frame` runs that store's join
itself from the plan `feast_registry` recorded at `feast apply` (labels read by Arrow, joined
and sorted in DuckDB, written from Arrow: no pandas copy, no `import feast`). Any other
offline store is asked through `FeatureStore.get_historical_features`, as before.
"""

import hashlib
from typing import Any

import dagster as dg
import pandas as pd
import pyarrow as pa

from training_assets.assets import OWNERS
from training_assets.assets.input_checks import check_feature_source, check_joined_features
from training_assets.feast_offline_store.asof_join import (
    DuckDBSettings,
    FeatureViewSpec,
    PointInTimeJoin,
)
from training_assets.resources.feast_store import FeastResource
from training_assets.resources.labels import LabelsResource
from training_assets.schema import (
    ENTITY_KEY,
    EVENT_TIMESTAMP,
    FEATURE_REFS,
    FEATURE_SERVICE,
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
    owners=OWNERS,
    description="Feast registry after `feast apply` of feature_repo/: entities and feature views.",
)
def feast_registry(context: dg.AssetExecutionContext, feast: FeastResource) -> dict[str, Any]:
    applied = feast.apply()
    output = applied.pop("feast_apply_output")
    ran = applied.pop("applied")
    if ran:
        context.log.info(output or "feast apply: no changes")
    else:
        context.log.info(
            f"feast apply skipped: {feast.repo_path}, the settings it read and the registry are "
            "unchanged since the last apply (FEAST_ALWAYS_APPLY=1 forces it)."
        )
    context.add_output_metadata(
        {
            "feast_apply": "ran" if ran else "skipped: unchanged since the last apply",
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
    kinds={"feast", "duckdb", "parquet"},
    owners=OWNERS,
    deps=["driver_orders", "driver_stats_source"],
    description=(
        "Labelled driver orders with the driver_stats features as of each order's time "
        "(point-in-time join of the Feast feature view, as DuckDB ASOF JOINs), sorted by "
        "event_timestamp and driver_id."
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
    service = feast_registry.get("feature_services", {}).get(FEATURE_SERVICE)
    offline_store = feast_registry.get("offline_store", {})
    if service is not None:
        # The service's projection: its features, in its order (checked to be FEATURES).
        features = _service_features(service, feast.repo_path)
        plans = offline_store.get("feature_services", {}).get(FEATURE_SERVICE)
        plan = plans[0] if plans else None
    else:
        context.log.warning(
            f"Feature service {FEATURE_SERVICE!r} is not in the registry of {feast.repo_path}: "
            f"joining {list(FEATURE_REFS)}."
        )
        features = list(FEATURES)
        plan = offline_store.get("feature_views", {}).get(FEATURE_VIEW)
    if plan is not None:
        check_feature_source(plan, declared)
        label_rows = labels.read_arrow()
        label_count = label_rows.num_rows
        table = _asof_frame(
            label_rows, plan, offline_store.get("duckdb_settings", {}), declared, features
        )
        del label_rows
        check_joined_features(table, plan)
        metadata = _frame_metadata(table)
        # The asset's value stays a pandas DataFrame (what downstream assets and
        # `output_for_node` see); numeric columns are handed over without a copy.
        frame = table.to_pandas(split_blocks=True, self_destruct=True)
        del table
    else:
        label_rows = labels.read()
        label_count = len(label_rows)
        if service is not None:
            joined = feast.historical_features(label_rows, service=FEATURE_SERVICE)
        else:
            joined = feast.historical_features(label_rows, list(FEATURE_REFS))
        frame = _ordered(joined, declared)
        table = pa.Table.from_pandas(frame, preserve_index=False)
        view = feast_registry["feature_views"][FEATURE_VIEW]
        check_joined_features(table, {"path": view["source"], "join_keys": [(ENTITY_KEY,) * 2]})
        metadata = _frame_metadata(table)
    context.log.info(
        f"Point-in-time join by the {offline_store.get('type', 'configured')} offline store: "
        f"{len(frame)} rows, features of "
        f"{f'feature service {FEATURE_SERVICE!r}' if service else 'feature refs'}."
    )
    metadata["feature_service"] = FEATURE_SERVICE if service is not None else ""
    if len(frame) != label_count:
        # Every label row must survive the join; anything else is a bug in retrieval.
        raise RuntimeError(
            f"Point-in-time join returned {len(frame)} rows for {label_count} label rows."
        )
    return dg.Output(frame, metadata=metadata, data_version=_content_version(frame))


def _content_version(frame: pd.DataFrame) -> dg.DataVersion:
    """A hash of the frame's content: the same data gives the same version, run after run."""
    row_hashes = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    return dg.DataVersion(hashlib.sha256(row_hashes.tobytes()).hexdigest()[:16])


def _service_features(service: dict[str, Any], repo_path: str) -> list[str]:
    """The feature service's features, which must be FEATURES of FEATURE_VIEW (what the model,
    the checks and the drift report are written for), joined on the labels' ENTITY_KEY."""
    projections = service["projections"]
    features = [name for projection in projections for name in projection["features"]]
    problem = None
    if [p["feature_view"] for p in projections] != [FEATURE_VIEW]:
        problem = f"selects from {[p['feature_view'] for p in projections]}"
    elif projections[0]["join_key_map"]:
        problem = f"maps join keys {projections[0]['join_key_map']}"
    elif sorted(features) != sorted(FEATURES) or len(set(features)) != len(features):
        problem = f"selects {features}"
    if problem:
        raise ValueError(
            f"Feature service {FEATURE_SERVICE!r} in {repo_path} {problem}; the training "
            f"frame needs exactly {list(FEATURES)} of feature view {FEATURE_VIEW!r}, joined on "
            f"{ENTITY_KEY!r}."
        )
    return features


def _asof_frame(
    label_rows: pa.Table,
    plan: dict[str, Any],
    settings: dict[str, Any],
    declared: dict[str, str],
    features: list[str],
) -> pa.Table:
    """The join in DuckDB, sorted there; then what `_ordered` does to the dtypes."""
    spec = FeatureViewSpec.from_dict(plan).with_features(features)
    joined = PointInTimeJoin(
        label_rows,
        EVENT_TIMESTAMP,
        [spec],
        order_by=TRAINING_FRAME_SORT_KEYS,
        settings=DuckDBSettings(**settings),
        # Label rows equal on the sort keys get the same features: identical rows.
        stable=False,
    ).to_arrow()
    frame = joined.select(list(TRAINING_FRAME_COLUMNS))
    for name in FEATURES:
        column = frame[name]
        dtype = FEAST_TO_PANDAS_DTYPE.get(declared[name])
        if not column.null_count and dtype:
            target = pa.from_numpy_dtype(dtype)
        elif column.null_count and pa.types.is_integer(column.type):
            # pandas holds an integer column with missing values as float64.
            target = pa.float64()
        else:
            continue
        if column.type != target:
            index = frame.column_names.index(name)
            frame = frame.set_column(index, name, column.cast(target, safe=False))
    return frame


def _ordered(joined: pd.DataFrame, declared: dict[str, str]) -> pd.DataFrame:
    """Fixed column order, declared feature dtypes where no value is missing, stable row order."""
    frame = joined[list(TRAINING_FRAME_COLUMNS)].copy()
    for name in FEATURES:
        dtype = FEAST_TO_PANDAS_DTYPE.get(declared[name])
        if dtype and not frame[name].isna().any():
            frame[name] = frame[name].astype(dtype)
    frame = frame.sort_values(list(TRAINING_FRAME_SORT_KEYS), kind="stable")
    return frame.reset_index(drop=True)


def _frame_metadata(frame: pa.Table) -> dict[str, Any]:
    import pyarrow.compute as pc

    # The dtypes the frame has once loaded into pandas, as downstream assets see it.
    dtypes = frame.schema.empty_table().to_pandas().dtypes
    missing = pc.is_null(frame[FEATURES[0]])
    for name in FEATURES[1:]:
        missing = pc.or_(missing, pc.is_null(frame[name]))
    without_features = pc.sum(missing).as_py()
    bounds = pc.min_max(frame[TRAINING_FRAME_COLUMNS[0]])

    def when(value: pa.Scalar) -> str:
        return str(pd.Timestamp(value.as_py())) if value.is_valid else ""

    return {
        "dagster/row_count": frame.num_rows,
        "dagster/column_schema": dg.TableSchema(
            columns=[dg.TableColumn(name, str(dtype)) for name, dtype in dtypes.items()]
        ),
        "rows_without_features": int(without_features or 0),
        "null_counts": dg.MetadataValue.json(
            {name: frame[name].null_count for name in frame.column_names}
        ),
        "first_event": when(bounds["min"]),
        "last_event": when(bounds["max"]),
        "preview": dg.MetadataValue.md(frame.slice(0, 10).to_pandas().to_markdown(index=False)),
    }
