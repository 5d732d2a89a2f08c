"""Data stage: the deterministic train/test split of the training frame, and the drift
baseline taken from a frame that passed every blocking check."""

from typing import Any

import dagster as dg
import pyarrow.compute as pc
import pyarrow.parquet as pq

from training_assets.assets import OWNERS
from training_assets.config import SplitConfig
from training_assets.domain.splitting import check_splittable, split_indices, taken
from training_assets.domain.validation import drift
from training_assets.io_managers.files import StoredVersion, TableStream
from training_assets.resources.data_validation import DataValidationResource
from training_assets.schema import FEATURES, SPLIT_COLUMNS, TARGET

GROUP = "data"


@dg.multi_asset(
    group_name=GROUP,
    # The frame's stored version: read here as Arrow (memory-mapped), not as pandas.
    ins={"training_frame": dg.AssetIn(metadata={"load": "reference"})},
    outs={
        "train_set": dg.AssetOut(
            io_manager_key="parquet_io_manager",
            kinds={"sklearn", "pandas", "parquet"},
            owners=OWNERS,
            description="Feature columns and target the model is fitted on.",
        ),
        "test_set": dg.AssetOut(
            io_manager_key="parquet_io_manager",
            kinds={"sklearn", "pandas", "parquet"},
            owners=OWNERS,
            description="Held-out feature columns and target the model is evaluated on.",
        ),
    },
)
def train_test_sets(config: SplitConfig, training_frame: StoredVersion):
    """Shuffle-split the training frame with a fixed seed: the rows of the seed's
    `train_test_split(test_size, random_state)`, taken from the stored frame a chunk at a time."""
    table = pq.read_table(training_frame.path, memory_map=True).select(list(SPLIT_COLUMNS))
    counts = pc.value_counts(table[TARGET]).to_pylist()
    check_splittable(table.num_rows, {c["values"]: c["counts"] for c in counts}, config.test_size)
    train, test = split_indices(table.num_rows, config.test_size, config.random_state)
    target = table[TARGET].to_numpy()
    dtypes = table.schema.empty_table().to_pandas().dtypes
    for name, rows in (("train_set", train), ("test_set", test)):
        yield dg.Output(
            TableStream(
                schema=table.schema,
                batches=taken(table, rows),
                # Written into the split's footer: the frame version it came from and how.
                lineage={"derived_from": training_frame.as_dict(), "split": config.model_dump()},
            ),
            output_name=name,
            metadata={
                "dagster/row_count": len(rows),
                "dagster/column_schema": dg.TableSchema(
                    columns=[dg.TableColumn(str(c), str(t)) for c, t in dtypes.items()]
                ),
                "positive_share": float(target[rows].mean()),
                "test_size": config.test_size,
                "random_state": config.random_state,
            },
        )


@dg.asset(
    group_name=GROUP,
    io_manager_key="json_io_manager",
    kinds={"numpy"},
    owners=OWNERS,
    deps=["train_set"],
    ins={"training_frame": dg.AssetIn(metadata={"load": "reference"})},
    description=(
        "Profile of training_frame (quantile bins and shares per feature) that the drift "
        "check of later runs compares with. Materialized only after the split, so only from "
        "a frame that passed every blocking data check."
    ),
)
def drift_baseline(
    context: dg.AssetExecutionContext,
    training_frame: StoredVersion,
    data_validation: DataValidationResource,
) -> dict[str, Any]:
    features = pq.read_table(training_frame.path, columns=list(FEATURES)).to_pandas()
    profile = drift.baseline(features, FEATURES, data_validation.drift_bins)
    # The profile is small: kept in the metadata too, so the drift check reads it from the
    # event log without depending on the stored file.
    context.add_output_metadata(
        {"profile": dg.MetadataValue.json(profile), "rows": profile["rows"]}
    )
    return profile
