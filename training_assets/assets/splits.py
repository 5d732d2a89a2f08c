"""Data stage: the deterministic train/test split of the training frame."""

import math

import dagster as dg
import pandas as pd

from training_assets.assets import OWNERS
from training_assets.config import SplitConfig
from training_assets.schema import FEATURES, TARGET

GROUP = "data"
SPLIT_COLUMNS = [*FEATURES, TARGET]


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
    from sklearn.model_selection import train_test_split

    check_splittable(training_frame, config.test_size)
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
                "dagster/column_schema": dg.TableSchema(
                    columns=[dg.TableColumn(str(c), str(t)) for c, t in frame.dtypes.items()]
                ),
                "positive_share": float(frame[TARGET].mean()),
                "test_size": config.test_size,
                "random_state": config.random_state,
            },
        )


class SplitError(ValueError):
    """The training frame cannot be split into a train and a test set with both classes."""


def check_splittable(frame: pd.DataFrame, test_size: float) -> None:
    """Raise a SplitError that says why, when no split can give both sets both classes."""
    rows = len(frame)
    test_rows = math.ceil(rows * test_size)
    if rows < 2 or test_rows < 1 or test_rows >= rows:
        raise SplitError(
            f"training_frame has {rows} row(s): test_size {test_size} would leave "
            f"{rows - test_rows} for train_set and {test_rows} for test_set; both need rows. "
            "Add labelled rows (TRAINING_LABELS_PATH) or change test_size."
        )
    counts = frame[TARGET].value_counts()
    scarce = {int(label): int(count) for label, count in counts.items() if count < 2}
    if len(counts) < 2 or scarce:
        raise SplitError(
            f"training_frame's label {TARGET!r} has class counts "
            f"{ {int(k): int(v) for k, v in counts.items()} }: train_set and test_set each need "
            "at least one row of both classes 0 and 1, so every class needs 2 rows or more. "
            "Add labelled rows of the missing class (TRAINING_LABELS_PATH)."
        )
