"""What the Feast registry holds, as plain data: the `feast_registry` asset's value.

Used by the `feast apply` child process (`feast_apply.py`), which prints it after MARKER, and
by `FeastResource.describe`. Needs `import feast` (seconds): never imported at load time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from feast import FeatureStore

MARKER = "FEAST_REGISTRY_DESCRIPTION "


def describe_store(store: FeatureStore) -> dict[str, Any]:
    """Entities, feature views and feature services in the registry, with feature types and
    ttl.

    `offline_store` names the configured offline store; for the ASOF store it also holds
    each view's and each service's join plan and the DuckDB settings, so `training_frame`
    runs the same join without importing Feast.
    """
    from training_assets.feast_offline_store.asof_store import asof_plan

    views = store.list_feature_views()
    services = store.list_feature_services()
    return {
        "project": store.project,
        "offline_store": asof_plan(store.config, views, services),
        "entities": {
            entity.name: {
                "join_key": entity.join_key,
                "value_type": entity.value_type.name,
            }
            for entity in store.list_entities()
        },
        "feature_views": {
            view.name: {
                "entities": list(view.entities),
                "features": {field.name: str(field.dtype) for field in view.features},
                "ttl_seconds": view.ttl.total_seconds() if view.ttl else None,
                "source": getattr(view.batch_source, "path", view.batch_source.name),
                "timestamp_field": view.batch_source.timestamp_field,
                "created_timestamp_column": view.batch_source.created_timestamp_column,
            }
            for view in views
        },
        # What `get_historical_features(features=store.get_feature_service(name))` asks
        # for: per projection the feature view, its alias and join key map, the features.
        "feature_services": {
            service.name: {
                "feature_refs": [
                    f"{projection.name_to_use()}:{field.name}"
                    for projection in service.feature_view_projections
                    for field in projection.features
                ],
                "projections": [
                    {
                        "feature_view": projection.name,
                        "name_alias": projection.name_alias,
                        "join_key_map": dict(projection.join_key_map),
                        "features": [field.name for field in projection.features],
                    }
                    for projection in service.feature_view_projections
                ],
                "tags": dict(service.tags),
            }
            for service in services
        },
    }
