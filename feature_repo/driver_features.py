"""Feast definitions of the driver features the model trains on.

This file is the single source of truth for feature names, types, ttl and the source file:
the pipeline reads them from here (through the Feast registry) instead of copying them.
"""

from datetime import timedelta

from feast import Entity, FeatureService, FeatureView, Field, FileSource, ValueType
from feast.types import Float32, Int32

from training_assets.settings import value

# The pipeline's setting DRIVER_STATS_PATH (training_assets/settings.py holds its default),
# absolute: Feast's duckdb offline store reads `FileSource.path` relative to the process's
# working directory rather than the feature repo (feast/infra/offline_stores/duckdb.py,
# `_read_data_source`).
DRIVER_STATS_PATH = value("DRIVER_STATS_PATH")

driver = Entity(
    name="driver",
    join_keys=["driver_id"],
    value_type=ValueType.INT64,
    description="A driver taking trips.",
)

driver_stats_source = FileSource(
    name="driver_stats_source",
    path=str(DRIVER_STATS_PATH),
    timestamp_field="datetime",
    created_timestamp_column="created",
    description="Hourly driver statistics.",
)

driver_stats = FeatureView(
    name="driver_stats",
    entities=[driver],
    ttl=timedelta(days=36500),
    schema=[
        Field(name="conv_rate", dtype=Float32, description="Share of offers converted."),
        Field(name="acc_rate", dtype=Float32, description="Share of offers accepted."),
        Field(name="avg_daily_trips", dtype=Int32, description="Average trips per day."),
    ],
    source=driver_stats_source,
    online=False,
    tags={"team": "ml-platform"},
)

# What the model trains on: `training_frame` joins exactly this service's features (its
# projection of driver_stats, recorded by `feast apply` in the `feast_registry` asset), the
# same frame as `store.get_historical_features(features=store.get_feature_service(...))`.
driver_training = FeatureService(
    name="driver_training",
    features=[driver_stats[["conv_rate", "acc_rate", "avg_daily_trips"]]],
    description="Features of the trip-completion model.",
    tags={"team": "ml-platform"},
)
