"""A deterministic train/test split on Spark, of exactly scikit-learn's sizes.

Each row gets a key: a seeded hash of its identity (event_timestamp, driver_id,
trip_completed) and of an ordinal among rows equal on those (exact duplicate label rows are
separate rows and may land on either side), followed by the identity and the ordinal, so
keys are distinct. The `ceil(n * test_size)` rows with the smallest keys are the test set:
`train_test_split(test_size)`'s sizes, so the split checks' size rule holds as for the DuckDB
profile. The hash (Spark's xxhash64 over the seed and the values) depends on nothing but the
row's values: the same split run after run and however the data is partitioned, unlike
`randomSplit` or a shuffle by row position.

The rows differ from scikit-learn's `train_test_split(random_state=17)`, which permutes row
positions with NumPy's generator: reproducing that needs every row's position in one global
order and one process drawing the permutation, i.e. the whole frame on the driver, which is
what the Spark profile is for avoiding.

How the k-th smallest key is found without sorting or collecting the frame: approximate
percentiles of the hash give a narrow band around the k-th; one aggregate counts the rows
below and within it (widened until the k-th key is inside); only the band's keys (about
2 x 1e-4 of the rows, at least a few hundred) come to the driver, where the exact cutoff is
picked. Then `key <= cutoff` marks the test rows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from training_assets.schema import TRAINING_FRAME_SORT_KEYS

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

TEST_COLUMN = "is_test"
_HASH, _ORDINAL = "__split_hash", "__split_ordinal"
# percentile_approx's rank error is at most rows / _ACCURACY, well inside the band.
_ACCURACY = 100_000
_BAND = 1e-4


def test_rows(rows: int, test_size: float) -> int:
    """How many rows `train_test_split(test_size=...)` puts in the test set."""
    return math.ceil(rows * test_size)


def _keyed(frame: DataFrame, seed: int, identity: Sequence[str]) -> tuple[DataFrame, list[str]]:
    """`frame` with the split key's columns; their names, most significant first."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F
    from pyspark.sql.types import TimestampNTZType, TimestampType

    types = dict((field.name, field.dataType) for field in frame.schema.fields)
    parts, names = [], []
    for number, name in enumerate(identity):
        column = F.col(name)
        if isinstance(types[name], TimestampType | TimestampNTZType):
            # Compared as integers: a timestamp literal would depend on the driver's zone.
            column = F.unix_micros(column.cast("timestamp"))
        parts.append((f"__split_k{number}", column))
        names.append(f"__split_k{number}")
    keys = [F.col(name) for name in identity]
    # Rows equal on the identity are numbered 0, 1, ...; which duplicate gets which number
    # does not matter: they are equal rows.
    ordinal = F.row_number().over(Window.partitionBy(*keys).orderBy(*keys)) - 1
    keyed = frame.withColumn(_ORDINAL, ordinal)
    keyed = keyed.withColumn(_HASH, F.xxhash64(F.lit(int(seed)), *keys, F.col(_ORDINAL)))
    keyed = keyed.withColumns(dict(parts))
    return keyed, [_HASH, *names, _ORDINAL]


def _at_most(columns: list[str], cutoff: Sequence[int]) -> Column:
    """Lexicographic (columns) <= (cutoff)."""
    from pyspark.sql import functions as F

    condition = F.col(columns[-1]) <= F.lit(cutoff[-1])
    for name, value in zip(reversed(columns[:-1]), reversed(cutoff[:-1]), strict=True):
        condition = (F.col(name) < F.lit(value)) | ((F.col(name) == F.lit(value)) & condition)
    return condition


@dataclass(frozen=True)
class HashSplit:
    """The frame with its test column; `keyed` is what the cutoff was found on (persisted by
    `hash_split`: call `release()` once the split is written)."""

    frame: DataFrame
    rows: int
    test_rows: int
    keyed: DataFrame

    def release(self) -> None:
        self.keyed.unpersist()


def hash_split(
    frame: DataFrame,
    test_size: float = 0.2,
    seed: int = 17,
    identity: Sequence[str] = TRAINING_FRAME_SORT_KEYS,
    column: str = TEST_COLUMN,
    persist: bool = True,
) -> HashSplit:
    """`frame` with a boolean `column`, True for exactly `test_rows(n, test_size)` rows.

    A few small Spark jobs find the cutoff; with `persist` the keyed rows they scan (and the
    result is computed from) are kept by the executors (memory, then disk) instead of being
    recomputed by each. The result is lazy.
    """
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    if not 0 < test_size < 1:
        raise ValueError(f"test_size must be between 0 and 1, got {test_size}.")
    keyed, keys = _keyed(frame, seed, identity)
    if persist:
        keyed = keyed.persist(StorageLevel.MEMORY_AND_DISK)
    rows = keyed.count()
    wanted = test_rows(rows, test_size)
    if not 0 < wanted < rows:
        raise ValueError(f"{rows} rows cannot be split with test_size {test_size}.")
    share, band = wanted / rows, max(_BAND, 200 / rows)
    while True:
        low_q, high_q = max(share - band, 0.0), min(share + band, 1.0)
        low, high = keyed.select(
            F.percentile_approx(_HASH, [low_q, high_q], _ACCURACY).alias("q")
        ).first()["q"]
        if low_q == 0.0 and high_q == 1.0:
            low, high = -(2**63), 2**63 - 1
        counts = keyed.select(
            F.sum((F.col(_HASH) < low).cast("long")).alias("below"),
            F.sum((F.col(_HASH) <= high).cast("long")).alias("within"),
        ).first()
        below, within = int(counts["below"] or 0), int(counts["within"] or 0)
        if below < wanted <= within:
            break
        band *= 4
    candidates = keyed.where(F.col(_HASH).between(low, high)).select(*keys).collect()
    cutoff = sorted(tuple(row) for row in candidates)[wanted - below - 1]
    marked = keyed.withColumn(column, _at_most(keys, cutoff)).drop(*keys[:-1], _ORDINAL)
    return HashSplit(marked, rows, wanted, keyed)


def assign_split(
    frame: DataFrame,
    test_size: float = 0.2,
    seed: int = 17,
    identity: Sequence[str] = TRAINING_FRAME_SORT_KEYS,
    column: str = TEST_COLUMN,
) -> DataFrame:
    """`hash_split`'s frame, without persisting anything."""
    return hash_split(frame, test_size, seed, identity, column, persist=False).frame
