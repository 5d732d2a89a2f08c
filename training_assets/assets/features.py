"""Feature stage: apply the Feast repository, then build the point-in-time training frame.

When the feature repo's offline store is the ASOF store
(`training_assets.feast_offline_store.asof_store`), `training_frame` runs that store's join
itself from the plan `feast_registry` recorded at `feast apply` (labels read by Arrow, joined
and sorted in DuckDB, written from Arrow: no pandas copy, no `import feast`). Any other
offline store is asked through `FeatureStore.get_historical_features`, as before.
"""

from typing import Any

import dagster as dg
import pandas as pd
import pyarrow as pa

from training_assets.assets import OWNERS
from training_assets.domain.input_checks import check_feature_source, check_joined_features
from training_assets.domain.training_frame import (
    asof_frame,
    feature_lineage,
    frame_metadata,
    ordered,
    service_features,
)
from training_assets.io_managers.files import LINEAGE_ATTR, content_hash
from training_assets.resources.feast_store import FeastResource
from training_assets.resources.labels import LabelsResource
from training_assets.schema import (
    ENTITY_KEY,
    FEATURE_REFS,
    FEATURE_SERVICE,
    FEATURE_VIEW,
    FEATURES,
)

GROUP = "features"


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
        features = service_features(service, feast.repo_path)
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
        table = asof_frame(
            label_rows, plan, offline_store.get("duckdb_settings", {}), declared, features
        )
        del label_rows
        check_joined_features(table, plan)
        metadata = frame_metadata(table)
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
        frame = ordered(joined, declared)
        table = pa.Table.from_pandas(frame, preserve_index=False)
        view = feast_registry["feature_views"][FEATURE_VIEW]
        check_joined_features(table, {"path": view["source"], "join_keys": [(ENTITY_KEY,) * 2]})
        metadata = frame_metadata(table)
    context.log.info(
        f"Point-in-time join by the {offline_store.get('type', 'configured')} offline store: "
        f"{len(frame)} rows, features of "
        f"{f'feature service {FEATURE_SERVICE!r}' if service else 'feature refs'}."
    )
    if len(frame) != label_count:
        # Every label row must survive the join; anything else is a bug in retrieval.
        raise RuntimeError(
            f"Point-in-time join returned {len(frame)} rows for {label_count} label rows."
        )
    version = content_hash(frame)
    lineage = feature_lineage(feast_registry, FEATURE_SERVICE if service else None)
    # Written into the stored file's footer with the version: what the frame was made from.
    frame.attrs[LINEAGE_ATTR] = {
        "content_hash": version,
        "features": lineage,
        "labels": {"path": labels.path},
    }
    metadata["feature_service"] = lineage["feature_service"] or ""
    metadata["feature_views"] = dg.MetadataValue.json(lineage["feature_views"])
    return dg.Output(frame, metadata=metadata, data_version=dg.DataVersion(version))
