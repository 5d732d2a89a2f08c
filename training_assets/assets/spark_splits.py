"""`train_set` and `test_set` on Spark (TRAINING_ENGINE=spark): the same multi-asset as
`splits.py`'s, split by the executors (a seeded hash of each row's identity, exactly
scikit-learn's sizes; its rows differ from `train_test_split`'s, see docs/spark.md) and
written by them as two Parquet datasets into the versioned storage. `drift_baseline` is
`splits.py`'s own in both profiles."""

import dagster as dg

from training_assets.assets import OWNERS
from training_assets.config import SplitConfig
from training_assets.domain.spark_splitting import (
    SPLIT_METHOD,
    check_split_counts,
    class_counts,
    write_split,
)
from training_assets.io_managers.files import ParquetDataset, StoredVersion, dataset_staging_dir
from training_assets.resources.spark import SparkResource

GROUP = "data"  # the group of splits.py's assets


@dg.multi_asset(
    name="train_test_sets",
    group_name=GROUP,
    # Only the reference (path, run, content hash): the executors read the frame.
    ins={"training_frame": dg.AssetIn(metadata={"load": "reference"})},
    outs={
        "train_set": dg.AssetOut(
            io_manager_key="parquet_io_manager",
            kinds={"spark", "parquet"},
            owners=OWNERS,
            description="Feature columns and target the model is fitted on.",
        ),
        "test_set": dg.AssetOut(
            io_manager_key="parquet_io_manager",
            kinds={"spark", "parquet"},
            owners=OWNERS,
            description="Held-out feature columns and target the model is evaluated on.",
        ),
    },
)
def train_test_sets(
    context: dg.AssetExecutionContext,
    config: SplitConfig,
    training_frame: StoredVersion,
    spark: SparkResource,
):
    """Split the training frame on Spark by a seeded hash of each row (random_state is the
    seed), test_size of the rows (rounded up) to the test set."""
    session = spark.session()
    before = spark.executor_tasks()
    frame = session.read.parquet(training_frame.path)
    counts = class_counts(frame)
    check_split_counts(sum(counts.values()), counts, config.test_size)
    staging = {
        name: dataset_staging_dir(spark.shared_dir, name, context.run.run_id)
        for name in ("train_set", "test_set")
    }
    written = write_split(frame, config.test_size, config.random_state, staging)
    tasks = spark.tasks_metadata(before)
    for item in written:
        value = ParquetDataset(
            str(item.staging),
            content_hash=item.content_hash,
            # Written into the split's _common_metadata: the frame version it came from and how.
            lineage={
                "derived_from": training_frame.as_dict(),
                "split": {**config.model_dump(), "method": SPLIT_METHOD},
            },
        )
        yield dg.Output(
            value,
            output_name=item.name,
            metadata={
                "dagster/row_count": item.rows,
                "positive_share": item.positives / item.rows,
                "test_size": config.test_size,
                "random_state": config.random_state,
                "split_method": SPLIT_METHOD,
                **tasks,
            },
        )
