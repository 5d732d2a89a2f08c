"""The deterministic train/test split of the training frame, and why a frame cannot be split."""

import math

import pandas as pd

from training_assets.schema import SPLIT_COLUMNS, TARGET


def split_frame(
    frame: pd.DataFrame, test_size: float, random_state: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Shuffle-split with a fixed seed: the seed's `train_test_split(test_size, random_state)`."""
    from sklearn.model_selection import train_test_split

    check_splittable(frame, test_size)
    train, test = train_test_split(
        frame[list(SPLIT_COLUMNS)], test_size=test_size, random_state=random_state
    )
    return train.reset_index(drop=True), test.reset_index(drop=True)


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
