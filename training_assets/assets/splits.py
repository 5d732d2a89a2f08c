"""Data stage: the deterministic train/test split of the training frame."""

import dagster as dg
import pandas as pd

from training_assets.config import SplitConfig
from training_assets.schema import FEATURES, TARGET

GROUP = "data"
SPLIT_COLUMNS = [*FEATURES, TARGET]


@dg.multi_asset(
    group_name=GROUP,
    outs={
        "train_set": dg.AssetOut(
            io_manager_key="parquet_io_manager",
            kinds={"pandas"},
            description="Feature columns and target the model is fitted on.",
        ),
        "test_set": dg.AssetOut(
            io_manager_key="parquet_io_manager",
            kinds={"pandas"},
            description="Held-out feature columns and target the model is evaluated on.",
        ),
    },
)
def train_test_sets(config: SplitConfig, training_frame: pd.DataFrame):
    """Shuffle-split the training frame with a fixed seed (the seed's `train_test_split`)."""
    from sklearn.model_selection import train_test_split

    train, test = train_test_split(
        training_frame[SPLIT_COLUMNS],
        test_size=config.test_size,
        random_state=config.random_state,
    )
    for name, frame in (("train_set", train), ("test_set", test)):
        yield dg.Output(
            frame.reset_index(drop=True),
            output_name=name,
            metadata={
                "dagster/row_count": len(frame),
                "positive_share": float(frame[TARGET].mean()),
                "test_size": config.test_size,
                "random_state": config.random_state,
            },
        )
