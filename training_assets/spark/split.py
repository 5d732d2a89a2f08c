"""A deterministic train/test split on Spark: each row goes to the test set when a seeded
hash of its identity falls below the test share.

A row's identity is its (event_timestamp, driver_id, trip_completed) plus an ordinal among
rows equal on those (exact duplicate label rows are separate rows and may land on either
side). The hash (Spark's xxhash64 over the seed and those values) depends on nothing but the
row's values, so the split is the same run after run and however the data is partitioned,
unlike `randomSplit` or a shuffle by row position.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from training_assets.schema import TRAINING_FRAME_SORT_KEYS

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

TEST_COLUMN = "is_test"
_BUCKETS = 1_000_000


def assign_split(
    frame: DataFrame,
    test_share: float = 0.2,
    seed: int = 17,
    identity: Sequence[str] = TRAINING_FRAME_SORT_KEYS,
    column: str = TEST_COLUMN,
) -> DataFrame:
    """`frame` with a boolean `column`: True for the test set (about `test_share` of rows)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    if not 0 < test_share < 1:
        raise ValueError(f"test_share must be between 0 and 1, got {test_share}.")
    keys = [F.col(name) for name in identity]
    # Rows equal on the identity are numbered 0, 1, ...; which duplicate gets which number
    # does not matter: they are equal rows.
    ordinal = F.row_number().over(Window.partitionBy(*keys).orderBy(*keys)) - 1
    bucket = F.pmod(F.xxhash64(F.lit(int(seed)), *keys, F.col("__ordinal")), F.lit(_BUCKETS))
    return (
        frame.withColumn("__ordinal", ordinal)
        .withColumn(column, bucket < F.lit(round(test_share * _BUCKETS)))
        .drop("__ordinal")
    )
