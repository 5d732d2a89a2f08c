"""The pipeline's inputs as observable source assets.

Each observation records a data version (a hash of the file's bytes), so the UI shows when
an input changed and which downstream assets are stale, and the retraining sensors compare
versions instead of clocks.
"""

from pathlib import Path

import dagster as dg

from training_assets.resources.labels import LabelsResource
from training_assets.resources.source_files import (
    FeatureSourceResource,
    content_hash,
    labels_summary,
    parquet_summary,
)
from training_assets.schema import EVENT_TIMESTAMP

GROUP = "sources"


def _missing(path: Path, setting: str) -> dg.Failure:
    return dg.Failure(f"Input file not found: {path} (setting {setting}).")


def observe_labels(labels: LabelsResource) -> dg.ObserveResult:
    path = Path(labels.path)
    if not path.is_file():
        raise _missing(path, "TRAINING_LABELS_PATH")
    return dg.ObserveResult(
        data_version=dg.DataVersion(content_hash(path)),
        metadata={"path": str(path), **labels_summary(path, EVENT_TIMESTAMP, labels.separator)},
    )


def observe_feature_source(feature_source: FeatureSourceResource) -> dg.ObserveResult:
    path = Path(feature_source.path)
    if not path.is_file():
        raise _missing(path, "DRIVER_STATS_PATH")
    return dg.ObserveResult(
        data_version=dg.DataVersion(content_hash(path)),
        metadata={"path": str(path), **parquet_summary(path, feature_source.timestamp_field)},
    )


@dg.observable_source_asset(
    group_name=GROUP,
    # observable_source_asset takes no `kinds=` (it silently ignores it): tag the kind.
    tags={"dagster/kind/csv": ""},
    description="Labelled driver orders (tab-separated): event time, driver id, trip_completed.",
)
def driver_orders(labels: LabelsResource) -> dg.ObserveResult:
    return observe_labels(labels)


@dg.observable_source_asset(
    group_name=GROUP,
    tags={"dagster/kind/parquet": ""},
    description="Hourly driver statistics: the Parquet source of Feast's driver_stats view.",
)
def driver_stats_source(feature_source: FeatureSourceResource) -> dg.ObserveResult:
    return observe_feature_source(feature_source)
