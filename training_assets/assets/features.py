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
from training_assets.domain.input_checks import (
    JoinedFeatureChecks,
    check_feature_source,
    check_joined_features,
)
from training_assets.domain.training_frame import (
    FrameProfile,
    feature_lineage,
    frame_join,
    frame_metadata,
    ordered,
    service_features,
)
from training_assets.io_managers.files import LINEAGE_ATTR, TableStream
from training_assets.resources.feast_store import FeastResource
from training_assets.resources.labels import LabelsResource
from training_assets.schema import (
    ENTITY_KEY,
    FEATURE_REFS,
    FEATURE_SERVICE,
    FEATURE_TIMESTAMP,
    FEATURE_VIEW,
    FEATURES,
    TRAINING_FRAME_COLUMNS,
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
) -> dg.Output:
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
    lineage = feature_lineage(feast_registry, FEATURE_SERVICE if service else None)
    frame_lineage = {"features": lineage, "labels": {"path": labels.path}}
    metadata = {
        "feature_service": lineage["feature_service"] or "",
        "feature_views": dg.MetadataValue.json(lineage["feature_views"]),
    }
    store = offline_store.get("type", "configured")
    if plan is None:
        frame = _from_feast(feast, labels, feast_registry, declared, service is not None)
        frame.attrs[LINEAGE_ATTR] = frame_lineage
        metadata |= frame_metadata(pa.Table.from_pandas(frame, preserve_index=False))
        context.log.info(f"Point-in-time join by the {store} offline store: {len(frame)} rows.")
        return dg.Output(frame, metadata=metadata)
    # The ASOF store's join, streamed out of DuckDB into storage: never whole in memory.
    check_feature_source(plan, declared)
    label_rows = labels.read_arrow()
    label_count = label_rows.num_rows
    join = frame_join(
        label_rows, plan, offline_store.get("duckdb_settings", {}), declared, features
    )
    del label_rows  # DuckDB holds what it still needs
    reader, close = join.stream()
    checks, profile = JoinedFeatureChecks(plan), FrameProfile()
    columns = list(TRAINING_FRAME_COLUMNS)

    def inspect(batch: pa.RecordBatch) -> None:
        checks.inspect(batch)
        profile.add(batch)

    def finish() -> dict[str, Any]:
        checks.finish()
        if profile.rows != label_count:
            # Every label row must survive the join; anything else is a bug in retrieval.
            raise RuntimeError(
                f"Point-in-time join returned {profile.rows} rows for {label_count} label rows."
            )
        context.log.info(
            f"Point-in-time join by the {store} offline store: {profile.rows} rows, features "
            f"of {f'feature service {FEATURE_SERVICE!r}' if service else 'feature refs'}."
        )
        return profile.metadata()

    return dg.Output(
        TableStream(
            schema=reader.schema,
            batches=(batch.select(columns) for batch in reader),
            lineage=frame_lineage,
            inspect=inspect,
            finish=finish,
            close=close,
        ),
        metadata=metadata,
    )


def _from_feast(
    feast: FeastResource,
    labels: LabelsResource,
    feast_registry: dict[str, Any],
    declared: dict[str, str],
    with_service: bool,
) -> pd.DataFrame:
    """The frame from Feast's own `get_historical_features` (any other offline store), with
    the feature timestamp looked up as-of (Feast does not return it)."""
    from training_assets.domain.validation.leakage import FeatureSource, with_as_of_features

    label_rows = labels.read()
    if with_service:
        joined = feast.historical_features(label_rows, service=FEATURE_SERVICE)
    else:
        joined = feast.historical_features(label_rows, list(FEATURE_REFS))
    source = FeatureSource.from_registry(feast_registry)
    joined[FEATURE_TIMESTAMP] = with_as_of_features(
        joined.assign(**{name: joined[name] for name in FEATURES}), source
    )[FEATURE_TIMESTAMP].to_numpy()
    frame = ordered(joined, declared)
    view = feast_registry["feature_views"][FEATURE_VIEW]
    check_joined_features(
        pa.Table.from_pandas(frame, preserve_index=False),
        {"path": view["source"], "join_keys": [(ENTITY_KEY,) * 2]},
    )
    if len(frame) != len(label_rows):
        raise RuntimeError(
            f"Point-in-time join returned {len(frame)} rows for {len(label_rows)} label rows."
        )
    return frame
