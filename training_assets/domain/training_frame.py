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
    FEATURE_TIMESTAMP,
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


# SQL types of Feast's value types: the join casts each feature to its declared type, so the
# stored frame has the declared types (nullable where a label row got no feature row).
FEAST_TO_SQL_TYPE = {"Float32": "FLOAT", "Float64": "DOUBLE", "Int32": "INTEGER", "Int64": "BIGINT"}


def frame_join(
    label_rows: pa.Table,
    plan: dict[str, Any],
    settings: dict[str, Any],
    declared: dict[str, str],
    features: list[str] | tuple[str, ...] = FEATURES,
) -> PointInTimeJoin:
    """The point-in-time join of the labels and the view's features in DuckDB, sorted there,
    carrying the timestamp of the feature row each label row got (the leakage check's
    evidence) and casting features to their declared types."""
    spec = FeatureViewSpec.from_dict(plan).with_features(features)
    return PointInTimeJoin(
        label_rows,
        EVENT_TIMESTAMP,
        [spec],
        order_by=TRAINING_FRAME_SORT_KEYS,
        settings=DuckDBSettings(**settings),
        # Label rows equal on the sort keys get the same features: identical rows.
        stable=False,
        carry_timestamps={spec.name: FEATURE_TIMESTAMP},
        casts={
            n: FEAST_TO_SQL_TYPE[declared[n]] for n in features if declared[n] in FEAST_TO_SQL_TYPE
        },
    )


def asof_frame(
    label_rows: pa.Table,
    plan: dict[str, Any],
    settings: dict[str, Any],
    declared: dict[str, str],
    features: list[str] | tuple[str, ...] = FEATURES,
) -> pa.Table:
    """The whole frame as one Arrow table (what `training_frame` streams into storage)."""
    joined = frame_join(label_rows, plan, settings, declared, features).to_arrow()
    return joined.select(list(TRAINING_FRAME_COLUMNS))


class FrameProfile:
    """What the UI shows of the frame, gathered batch by batch while it is written."""

    def __init__(self) -> None:
        self.rows = 0
        self.nulls: dict[str, int] = {}
        self.without_features = 0
        self.first: Any = None
        self.last: Any = None
        self.preview: pd.DataFrame | None = None
        self.schema: pa.Schema | None = None

    def add(self, batch: pa.RecordBatch | pa.Table) -> None:
        import pyarrow.compute as pc

        self.schema = batch.schema
        self.rows += batch.num_rows
        for name in batch.schema.names:
            self.nulls[name] = self.nulls.get(name, 0) + batch.column(name).null_count
        missing = pc.is_null(batch.column(FEATURES[0]))
        for name in FEATURES[1:]:
            missing = pc.or_(missing, pc.is_null(batch.column(name)))
        self.without_features += int(pc.sum(missing).as_py() or 0)
        bounds = pc.min_max(batch.column(EVENT_TIMESTAMP))
        if bounds["min"].is_valid:
            low, high = bounds["min"].as_py(), bounds["max"].as_py()
            self.first = low if self.first is None else min(self.first, low)
            self.last = high if self.last is None else max(self.last, high)
        if self.preview is None or len(self.preview) < 10:
            head = batch.slice(0, 10).to_pandas()
            self.preview = head if self.preview is None else pd.concat([self.preview, head])

    def metadata(self) -> dict[str, Any]:
        # The dtypes the frame has once loaded into pandas, as downstream assets see it: an
        # integer column with missing values becomes float64.
        dtypes = self.schema.empty_table().to_pandas().dtypes if self.schema else {}
        shown = {
            name: "float64" if self.nulls.get(name) and str(dtype).startswith("int") else str(dtype)
            for name, dtype in dtypes.items()
        }
        return {
            "dagster/row_count": self.rows,
            "dagster/column_schema": dg.TableSchema(
                columns=[dg.TableColumn(name, dtype) for name, dtype in shown.items()]
            ),
            "rows_without_features": self.without_features,
            "null_counts": dg.MetadataValue.json(dict(self.nulls)),
            "first_event": "" if self.first is None else str(pd.Timestamp(self.first)),
            "last_event": "" if self.last is None else str(pd.Timestamp(self.last)),
            "preview": dg.MetadataValue.md(
                (self.preview if self.preview is not None else pd.DataFrame())
                .head(10)
                .to_markdown(index=False)
            ),
        }


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
    """The metadata of a whole frame (FrameProfile over one batch)."""
    profile = FrameProfile()
    profile.add(frame)
    return profile.metadata()
