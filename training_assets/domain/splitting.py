"""The deterministic train/test split of the training frame, and why a frame cannot be split.

The rows are scikit-learn's: `train_test_split(test_size, random_state)` draws them with
`ShuffleSplit`, and so does `split_indices`, on the row count alone. The split is an index
computed once; the sets are then taken from the frame in chunks, so neither is ever a copy
of the whole frame in memory.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping

import numpy as np
import pandas as pd
import pyarrow as pa

from training_assets.schema import SPLIT_COLUMNS, TARGET

TAKE_ROWS = 2_000_000  # rows taken from the frame at a time when writing a set


def split_indices(rows: int, test_size: float, random_state: int) -> tuple[np.ndarray, np.ndarray]:
    """Row numbers of the train and the test set, in scikit-learn's order."""
    from sklearn.model_selection import ShuffleSplit

    splitter = ShuffleSplit(n_splits=1, test_size=test_size, random_state=random_state)
    # ShuffleSplit looks only at the number of rows: a zero-width array stands for them.
    train, test = next(splitter.split(np.empty((rows, 0))))
    return train, test


def taken(table: pa.Table, rows: np.ndarray) -> Iterator[pa.RecordBatch]:
    """The table's rows at `rows`, in that order, a chunk at a time."""
    for start in range(0, len(rows), TAKE_ROWS):
        yield from table.take(pa.array(rows[start : start + TAKE_ROWS])).to_batches()


def split_frame(
    frame: pd.DataFrame, test_size: float, random_state: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Both sets of a frame in memory (tests, small data): `train_test_split`'s rows."""
    check_splittable(len(frame), frame[TARGET].value_counts().to_dict(), test_size)
    train, test = split_indices(len(frame), test_size, random_state)
    columns = list(SPLIT_COLUMNS)
    return (
        frame[columns].iloc[train].reset_index(drop=True),
        frame[columns].iloc[test].reset_index(drop=True),
    )


class SplitError(ValueError):
    """The training frame cannot be split into a train and a test set with both classes."""


def check_splittable(rows: int, class_counts: Mapping[int, int], test_size: float) -> None:
    """Raise a SplitError that says why, when no split can give both sets both classes."""
    test_rows = math.ceil(rows * test_size)
    if rows < 2 or test_rows < 1 or test_rows >= rows:
        raise SplitError(
            f"training_frame has {rows} row(s): test_size {test_size} would leave "
            f"{rows - test_rows} for train_set and {test_rows} for test_set; both need rows. "
            "Add labelled rows (TRAINING_LABELS_PATH) or change test_size."
        )
    # Most frequent first (as pandas' value_counts listed them), whatever order the counts
    # came in: the message does not depend on the engine that counted.
    ordered = sorted(class_counts.items(), key=lambda item: (-int(item[1]), int(item[0])))
    counts = {int(label): int(count) for label, count in ordered}
    scarce = {label: count for label, count in counts.items() if count < 2}
    if len(counts) < 2 or scarce:
        raise SplitError(
            f"training_frame's label {TARGET!r} has class counts "
            f"{counts}: train_set and test_set each need "
            "at least one row of both classes 0 and 1, so every class needs 2 rows or more. "
            "Add labelled rows of the missing class (TRAINING_LABELS_PATH)."
        )
