"""Data stage: the deterministic train/test split of the training frame, and the drift
baseline taken from a frame that passed every blocking check."""

from typing import Any

import dagster as dg
import pandas as pd

from training_assets.assets import OWNERS
from training_assets.config import SplitConfig
from training_assets.domain.splitting import split_frame
from training_assets.domain.validation import drift
from training_assets.io_managers.files import LINEAGE_ATTR, STORED_ATTR
from training_assets.resources.data_validation import DataValidationResource
from training_assets.schema import FEATURES, TARGET

GROUP = "data"


@dg.multi_asset(
    group_name=GROUP,
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
def train_test_sets(config: SplitConfig, training_frame: pd.DataFrame):
    """Shuffle-split the training frame with a fixed seed (the seed's `train_test_split`)."""
    train, test = split_frame(training_frame, config.test_size, config.random_state)
    source = training_frame.attrs.get(STORED_ATTR)
    for name, frame in (("train_set", train), ("test_set", test)):
        # Written into the split's footer: the frame version it came from and how.
        frame.attrs[LINEAGE_ATTR] = {
            "derived_from": source.as_dict() if source else None,
            "split": config.model_dump(),
        }
        yield dg.Output(
            frame,
            output_name=name,
            metadata={
                "dagster/row_count": len(frame),
                "dagster/column_schema": dg.TableSchema(
                    columns=[dg.TableColumn(str(c), str(t)) for c, t in frame.dtypes.items()]
                ),
                "positive_share": float(frame[TARGET].mean()),
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
    description=(
        "Profile of training_frame (quantile bins and shares per feature) that the drift "
        "check of later runs compares with. Materialized only after the split, so only from "
        "a frame that passed every blocking data check."
    ),
)
def drift_baseline(
    context: dg.AssetExecutionContext,
    training_frame: pd.DataFrame,
    data_validation: DataValidationResource,
) -> dict[str, Any]:
    profile = drift.baseline(training_frame, FEATURES, data_validation.drift_bins)
    # The profile is small: kept in the metadata too, so the drift check reads it from the
    # event log without depending on the stored file.
    context.add_output_metadata(
        {"profile": dg.MetadataValue.json(profile), "rows": profile["rows"]}
    )
    return profile
