"""`training_frame` on Spark (TRAINING_ENGINE=spark): the same asset as `features.py`'s, the
point-in-time join run by the executors (`training_assets.spark.asof_join`: exact, window
based) from the join plan `feast_registry` recorded, written by them as a Parquet dataset
straight into the versioned storage (published by the IO manager with one rename).

The checks that stop a bad input before anything is stored are the DuckDB path's, computed
on Spark: the feature source's footer, the label rule (its messages, naming the line, come
from `LabelsResource`, which reads the file only when Spark found something wrong or the
job failed), and the joined features' ranges and unknown drivers.
"""

import shutil
from pathlib import Path
from typing import Any

import dagster as dg

from training_assets.assets import OWNERS
from training_assets.domain.input_checks import check_feature_source
from training_assets.domain.spark_frames import (
    check_joined_features,
    check_labels,
    frame_metadata,
    frame_profile,
    join_plan,
)
from training_assets.domain.training_frame import feature_lineage
from training_assets.io_managers.files import ParquetDataset, dataset_staging_dir
from training_assets.resources.feast_store import FeastResource
from training_assets.resources.labels import LabelsResource
from training_assets.resources.spark import SparkResource

GROUP = "features"  # the group of features.py's assets


@dg.asset(
    name="training_frame",
    group_name=GROUP,
    io_manager_key="parquet_io_manager",
    kinds={"feast", "spark", "parquet"},
    owners=OWNERS,
    deps=["driver_orders", "driver_stats_source"],
    description=(
        "Labelled driver orders with the driver_stats features as of each order's time "
        "(point-in-time join of the Feast feature view, on Spark: a window over each "
        "driver's rows), sorted by event_timestamp and driver_id; a Parquet dataset written "
        "by the executors."
    ),
)
def training_frame(
    context: dg.AssetExecutionContext,
    feast_registry: dict[str, Any],
    feast: FeastResource,
    labels: LabelsResource,
    spark: SparkResource,
) -> dg.Output[ParquetDataset]:
    from training_assets.spark.asof_join import write_frame

    chosen = join_plan(feast_registry, feast.repo_path, context.log.warning)
    check_feature_source(chosen.plan, chosen.declared)
    if not Path(labels.path).is_file():
        labels.read_arrow()  # raises: the file is missing or a directory
    session = spark.session()
    before = spark.executor_tasks()
    staging = dataset_staging_dir(spark.shared_dir, "training_frame", context.run.run_id)
    written, failure = None, None
    try:
        written = write_frame(
            session,
            labels.path,
            chosen.plan,
            staging,
            chosen.declared,
            chosen.features,
            labels.separator,
        )
    except Exception as error:
        failure = error
    if written is None:
        # A bad labels file (Spark's casts refuse a malformed value): the message naming the
        # line, raised outside the handler so Spark's trace is not chained onto it. Otherwise
        # the job's own error.
        labels.read_arrow()
        raise failure
    try:
        frame = session.read.parquet(str(staging))
        profile = frame_profile(frame, chosen.features)
        check_labels(profile, labels)
        check_joined_features(frame, profile, chosen.plan)
        metadata = frame_metadata(profile, staging)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    context.log.info(
        f"Point-in-time join on Spark ({spark.master}): {written.rows} rows in "
        f"{written.files} part file(s), {written.seconds:.1f} s."
    )
    lineage = feature_lineage(feast_registry, chosen.service)
    metadata["feature_service"] = lineage["feature_service"] or ""
    metadata["feature_views"] = dg.MetadataValue.json(lineage["feature_views"])
    metadata.update(spark.tasks_metadata(before))
    version = profile["content_hash"]
    # Written into the dataset's _common_metadata with the version: what it was made from.
    value = ParquetDataset(
        str(staging),
        content_hash=version,
        lineage={
            "features": lineage,
            "labels": {"path": labels.path},
            "engine": "spark",
        },
    )
    return dg.Output(value, metadata=metadata, data_version=dg.DataVersion(version))
