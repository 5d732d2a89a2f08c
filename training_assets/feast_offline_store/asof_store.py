"""A Feast offline store: Feast's `duckdb` store with historical retrieval as DuckDB ASOF JOINs.

Configure it in `feature_store.yaml`:

    offline_store:
      type: training_assets.feast_offline_store.asof_store.DuckDBAsOfOfflineStore
      memory_limit: 3GB          # optional, DuckDB spills to temp_directory beyond it
      temp_directory: /tmp/feast # optional

`FeatureStore.get_historical_features(...)` then returns the same rows as the stock `duckdb`
store (see `asof_join.py` for the exact semantics), much faster and in far less memory.
Everything else (materialization, pull_latest, writes, monitoring) is the stock store's.
Requests the ASOF plan does not cover fall back to the stock implementation, unchanged:
an entity SQL query instead of a DataFrame, `filter_by_created_timestamp=True`, feature views
whose batch source is not a local Parquet `FileSource`, and substrait on-demand views.
"""

from __future__ import annotations

import copy
import os
import uuid
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import pyarrow as pa
from feast.data_format import ParquetFormat
from feast.errors import SavedDatasetLocationAlreadyExists
from feast.feature_service import FeatureService
from feast.feature_view import FeatureView
from feast.infra.offline_stores.duckdb import DuckDBOfflineStore, DuckDBOfflineStoreConfig
from feast.infra.offline_stores.file_source import FileSource
from feast.infra.offline_stores.offline_store import RetrievalJob, RetrievalMetadata
from feast.infra.offline_stores.offline_utils import infer_event_timestamp_from_entity_df
from feast.infra.registry.base_registry import BaseRegistry
from feast.on_demand_feature_view import OnDemandFeatureView
from feast.repo_config import RepoConfig
from feast.saved_dataset import SavedDatasetStorage
from pydantic import StrictInt, StrictStr

from training_assets.feast_offline_store.asof_join import (
    DuckDBSettings,
    FeatureViewSpec,
    PointInTimeJoin,
)

STORE_TYPE = "training_assets.feast_offline_store.asof_store.DuckDBAsOfOfflineStore"


class DuckDBAsOfOfflineStoreConfig(DuckDBOfflineStoreConfig):
    type: Literal["training_assets.feast_offline_store.asof_store.DuckDBAsOfOfflineStore"] = (
        STORE_TYPE
    )
    memory_limit: StrictStr | None = None
    temp_directory: StrictStr | None = None
    threads: StrictInt | None = None

    def duckdb_settings(self) -> DuckDBSettings:
        return DuckDBSettings(self.memory_limit, self.temp_directory, self.threads)


def asof_supported(view: FeatureView) -> str | None:
    """Why the ASOF plan cannot serve this feature view, or None when it can."""
    source = view.batch_source
    if type(source) is not FileSource:
        return f"batch source {type(source).__name__} is not a FileSource"
    if not (source.file_format is None or isinstance(source.file_format, ParquetFormat)):
        return f"file format {type(source.file_format).__name__} is not Parquet"
    if "://" in source.path:
        return f"source path {source.path} is not a local file"
    return None


def feature_view_spec(
    view: FeatureView, feature_refs: list[str] | None = None, full_feature_names: bool = False
) -> FeatureViewSpec:
    """The view's join plan: what Feast's ibis `read_fv` derives from a feature view.

    `feature_refs` None means every feature of the view.
    """
    reason = asof_supported(view)
    if reason:
        raise ValueError(f"Feature view {view.name!r}: {reason}.")
    source = view.batch_source
    prefix = view.projection.name_to_use()
    if feature_refs is None:
        names = [feature.name for feature in view.features]
    else:
        names = [ref.split(":")[1] for ref in feature_refs if ref.startswith(f"{prefix}:")]
    base_name = view.projection.name_alias or view.name
    join_key_map = view.projection.join_key_map or {
        column.name: column.name for column in view.entity_columns
    }
    ttl = view.ttl.total_seconds() if view.ttl else 0
    return FeatureViewSpec(
        name=view.name,
        path=source.path,
        timestamp_field=source.timestamp_field,
        created_timestamp_column=source.created_timestamp_column or None,
        ttl_microseconds=round(ttl * 1_000_000) or None,
        join_keys=tuple(join_key_map.items()),
        features=tuple(
            (name, f"{base_name}__{name}" if full_feature_names else name) for name in names
        ),
        field_mapping=tuple(source.field_mapping.items()),
    )


def entity_arrow(entity_df: pd.DataFrame | pa.Table, event_timestamp: str) -> pa.Table:
    """The entity rows as Arrow, timestamps given as strings parsed as UTC (as Feast does)."""
    if isinstance(entity_df, pa.Table):
        return entity_df
    column = entity_df[event_timestamp]
    if pd.api.types.is_string_dtype(column) or pd.api.types.is_object_dtype(column):
        entity_df = entity_df.assign(**{event_timestamp: pd.to_datetime(column, utc=True)})
    return pa.Table.from_pandas(entity_df, preserve_index=False)


def _microsecond_timestamps(table: pa.Table) -> pa.Table:
    """Nanosecond timestamp columns as microseconds (what the stock store's jobs return)."""
    fields = [
        pa.field(f.name, pa.timestamp("us", f.type.tz), f.nullable, f.metadata)
        if pa.types.is_timestamp(f.type) and f.type.unit == "ns"
        else f
        for f in table.schema
    ]
    return table.cast(pa.schema(fields, table.schema.metadata), safe=False)


class AsOfRetrievalJob(RetrievalJob):
    """The point-in-time join, run when the result is asked for (Arrow, pandas or Parquet)."""

    def __init__(
        self,
        join: PointInTimeJoin,
        on_demand_feature_views: list[OnDemandFeatureView],
        full_feature_names: bool,
        feature_refs: list[str],
        keys: list[str],
        repo_path: str | Path | None = None,
    ) -> None:
        super().__init__()
        self._repo_path = repo_path
        self.join = join
        self._on_demand_feature_views = on_demand_feature_views
        self._full_feature_names = full_feature_names
        self._feature_refs = feature_refs
        self._keys = keys
        self._metadata: RetrievalMetadata | None = None

    @property
    def full_feature_names(self) -> bool:
        return self._full_feature_names

    @property
    def on_demand_feature_views(self) -> list[OnDemandFeatureView]:
        return self._on_demand_feature_views

    def _to_arrow_internal(self, timeout: int | None = None) -> pa.Table:
        return self.join.to_arrow()

    def _to_df_internal(self, timeout: int | None = None) -> pd.DataFrame:
        return self._to_arrow_internal(timeout).to_pandas()

    def to_parquet(self, path: str | Path) -> None:
        """Write the joined rows to one Parquet file straight from DuckDB.

        On-demand feature views are not applied here (use `to_arrow`).
        """
        if self._on_demand_feature_views:
            raise NotImplementedError(
                "to_parquet does not apply on-demand feature views; use to_arrow()."
            )
        self.join.to_parquet(path)

    def persist(
        self,
        storage: SavedDatasetStorage,
        allow_overwrite: bool = False,
        timeout: int | None = None,
    ) -> None:
        """Save the rows for `FeatureStore.create_saved_dataset`, as the stock store does.

        Feast's duckdb store (`duckdb._write_data_source`, mode "overwrite") resolves the
        path against the repo path, refuses an existing path unless `allow_overwrite`, writes
        one file when the path ends in `.parquet` and otherwise treats it as a directory and
        adds a new `<uuid>-0.parquet` file to it (files already there stay). Local Parquet
        is written here straight from DuckDB, with microsecond timestamps as the stock store
        writes them (Feast reads the dataset back with a timestamp filter that DuckDB cannot
        apply to nanosecond ones). Any other storage (Delta, remote, Lance, Iceberg) goes to
        the stock writer with the rows as Arrow. On-demand features are included, computed
        by `to_arrow` (the stock job writes its table without them).
        """
        source = storage.to_data_source()
        local_parquet = (
            type(source) is FileSource
            and (source.file_format is None or isinstance(source.file_format, ParquetFormat))
            and "://" not in source.path
        )
        if not local_parquet or self._on_demand_feature_views:
            import ibis
            from feast.infra.offline_stores.duckdb import _write_data_source

            table = _microsecond_timestamps(self.to_arrow(timeout=timeout))
            _write_data_source(
                ibis.memtable(table), source, self._repo_path, "overwrite", allow_overwrite
            )
            return
        path = FileSource.get_uri_for_file_path(self._repo_path, source.path)
        if os.path.exists(path) and not allow_overwrite:
            raise SavedDatasetLocationAlreadyExists(location=source.path)
        if not path.endswith(".parquet"):
            os.makedirs(path, exist_ok=True)
            path = os.path.join(path, f"{uuid.uuid4().hex}-0.parquet")
        self.join.to_parquet(path, microsecond_timestamps=True)

    @property
    def metadata(self) -> RetrievalMetadata | None:
        if self._metadata is None:
            import pyarrow.compute as pc

            timestamps = self.join._entity[self.join.event_timestamp]
            bounds = pc.min_max(timestamps)

            def as_datetime(value: Any) -> datetime | None:
                value = value.as_py()
                return pd.Timestamp(value).to_pydatetime() if value is not None else None

            self._metadata = RetrievalMetadata(
                features=self._feature_refs,
                keys=self._keys,
                min_event_timestamp=as_datetime(bounds["min"]),
                max_event_timestamp=as_datetime(bounds["max"]),
            )
        return self._metadata


class DuckDBAsOfOfflineStore(DuckDBOfflineStore):
    """Feast's DuckDB offline store, with `get_historical_features` as ASOF JOINs."""

    @staticmethod
    def get_historical_features(
        config: RepoConfig,
        feature_views: list[FeatureView],
        feature_refs: list[str],
        entity_df: pd.DataFrame | str,
        registry: BaseRegistry,
        project: str,
        full_feature_names: bool = False,
        filter_by_created_timestamp: bool = False,
    ) -> RetrievalJob:
        odfvs = OnDemandFeatureView.get_requested_odfvs(feature_refs, project, registry)
        fall_back = (
            isinstance(entity_df, str)
            or filter_by_created_timestamp
            or any(asof_supported(view) for view in feature_views)
            or any(odfv.mode == "substrait" for odfv in odfvs)
        )
        if fall_back:
            return DuckDBOfflineStore.get_historical_features(
                config,
                feature_views,
                feature_refs,
                entity_df,
                registry,
                project,
                full_feature_names,
                filter_by_created_timestamp,
            )
        if isinstance(entity_df, pa.Table):
            schema = {name: entity_df.schema.field(name).type for name in entity_df.column_names}
            timestamps = [n for n, t in schema.items() if pa.types.is_timestamp(t)]
            event_timestamp = (
                "event_timestamp"
                if "event_timestamp" in schema or len(timestamps) != 1
                else timestamps[0]
            )
        else:
            event_timestamp = infer_event_timestamp_from_entity_df(
                dict(zip(entity_df.columns, entity_df.dtypes, strict=True))
            )
        entity = entity_arrow(entity_df, event_timestamp)
        specs = [
            feature_view_spec(view, feature_refs, full_feature_names) for view in feature_views
        ]
        settings = (
            config.offline_store.duckdb_settings()
            if isinstance(config.offline_store, DuckDBAsOfOfflineStoreConfig)
            else DuckDBSettings()
        )
        join = PointInTimeJoin(entity, event_timestamp, specs, settings=settings)
        return AsOfRetrievalJob(
            join,
            [odfv for odfv in odfvs if odfv.mode != "substrait"],
            full_feature_names,
            feature_refs,
            keys=[name for name in entity.column_names if name != event_timestamp],
            repo_path=config.repo_path,
        )


def service_views(
    service: FeatureService, views: list[FeatureView]
) -> list[tuple[FeatureView, list[str]]]:
    """Each projection of the service as Feast retrieves it: the view with the projection
    applied (alias, join key map, the selected features) and the projection's feature refs
    (what `FeatureStore.get_historical_features(features=service)` hands the store)."""
    by_name = {view.name: view for view in views}
    resolved = []
    for projection in service.feature_view_projections:
        if projection.name not in by_name:
            raise ValueError(
                f"Feature service {service.name!r} selects from {projection.name!r}, which is "
                "not a feature view of this repo (on-demand views are not supported here)."
            )
        view = by_name[projection.name].with_projection(copy.copy(projection))
        refs = [f"{projection.name_to_use()}:{field.name}" for field in projection.features]
        resolved.append((view, refs))
    return resolved


def asof_plan(
    config: RepoConfig,
    views: list[FeatureView],
    services: list[FeatureService] | None = None,
) -> dict[str, Any]:
    """The configured offline store and, when it is this one, every view's join plan and
    every feature service's (one plan per projection, only the service's features, in its
    order: the join `get_historical_features(features=service)` runs).

    JSON-able, for the `feast_registry` asset: `training_frame` reads it to run the join
    without importing Feast.
    """
    offline_store = config.offline_store
    plan: dict[str, Any] = {"type": offline_store.type}
    if isinstance(offline_store, DuckDBAsOfOfflineStoreConfig):
        plan["duckdb_settings"] = asdict(offline_store.duckdb_settings())
        plan["feature_views"] = {
            view.name: feature_view_spec(view).to_dict()
            for view in views
            if not asof_supported(view)
        }
        plan["feature_services"] = {}
        for service in services or []:
            try:
                resolved = service_views(service, views)
            except ValueError:
                continue
            if not any(asof_supported(view) for view, _ in resolved):
                plan["feature_services"][service.name] = [
                    feature_view_spec(view, refs).to_dict() for view, refs in resolved
                ]
    return plan
