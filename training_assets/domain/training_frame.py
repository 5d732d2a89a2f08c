"""The training frame: the point-in-time join of the labels and the Feast features, its
dtypes and row order, content version and the metadata shown in the UI."""

import hashlib
import json
from typing import Any

import dagster as dg
import pandas as pd
import pyarrow as pa

from training_assets.feast_offline_store.asof_join import (
    DuckDBSettings,
    FeatureViewSpec,
    PointInTimeJoin,
)
from training_assets.schema import (
    ENTITY_KEY,
    EVENT_TIMESTAMP,
    FEAST_TO_PANDAS_DTYPE,
    FEATURE_SERVICE,
    FEATURE_VIEW,
    FEATURES,
    TRAINING_FRAME_COLUMNS,
    TRAINING_FRAME_SORT_KEYS,
)


def feature_lineage(feast_registry: dict[str, Any], service: str | None) -> dict[str, Any]:
    """Which Feast definitions the frame was built from: the project, the feature service and
    its features, and each feature view with a fingerprint of its definition (entities,
    features and types, ttl, source), so a changed definition shows on the next model
    version."""
    views = feast_registry.get("feature_views", {})
    described = feast_registry.get("feature_services", {}).get(service or "", {})
    return {
        "project": feast_registry.get("project"),
        "feature_service": service,
        "feature_refs": described.get("feature_refs") or [f"{FEATURE_VIEW}:{n}" for n in FEATURES],
        "feature_views": {
            name: {
                "fingerprint": _fingerprint(view),
                "features": view.get("features", {}),
                "ttl_seconds": view.get("ttl_seconds"),
                "source": view.get("source"),
            }
            for name, view in sorted(views.items())
            if name == FEATURE_VIEW
        },
    }


def service_features(service: dict[str, Any], repo_path: str) -> list[str]:
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


def _fingerprint(definition: dict[str, Any]) -> str:
    text = json.dumps(definition, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def asof_frame(
    label_rows: pa.Table,
    plan: dict[str, Any],
    settings: dict[str, Any],
    declared: dict[str, str],
    features: list[str] | tuple[str, ...] = FEATURES,
) -> pa.Table:
    """The join in DuckDB, sorted there; then what `ordered` does to the dtypes."""
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


def ordered(joined: pd.DataFrame, declared: dict[str, str]) -> pd.DataFrame:
    """Fixed column order, declared feature dtypes where no value is missing, stable row order."""
    frame = joined[list(TRAINING_FRAME_COLUMNS)].copy()
    for name in FEATURES:
        dtype = FEAST_TO_PANDAS_DTYPE.get(declared[name])
        if dtype and not frame[name].isna().any():
            frame[name] = frame[name].astype(dtype)
    frame = frame.sort_values(list(TRAINING_FRAME_SORT_KEYS), kind="stable")
    return frame.reset_index(drop=True)


def frame_metadata(frame: pa.Table) -> dict[str, Any]:
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
