"""The train/test split on Spark (TRAINING_ENGINE=spark): whether the frame can be split, and
the split itself, written by the executors as two Parquet datasets.

Sizes are scikit-learn's (`ceil(n * test_size)` test rows); which rows go where is decided by
a seeded hash of each row's identity (`training_assets.spark.split`), so the rows differ from
`train_test_split(random_state=17)`'s: see docs/spark.md.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from training_assets.domain.spark_frames import content_hash
from training_assets.domain.splitting import check_splittable
from training_assets.io_managers.files import dataset_files
from training_assets.schema import SPLIT_COLUMNS, TARGET, TRAINING_FRAME_SORT_KEYS
from training_assets.spark.split import TEST_COLUMN, hash_split

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

SPLIT_METHOD = "spark-hash"


def class_counts(frame: DataFrame) -> dict[int, int]:
    """Rows per label value (a small aggregate)."""
    rows = frame.groupBy(TARGET).count().collect()
    return {int(row[TARGET]): int(row["count"]) for row in rows if row[TARGET] is not None}


def check_split_counts(rows: int, counts: dict[int, int], test_size: float) -> None:
    """`splitting.check_splittable` (its rule and messages) from Spark's counts."""
    check_splittable(rows, counts, test_size)


@dataclass(frozen=True)
class WrittenSplit:
    name: str
    staging: Path
    rows: int
    positives: int
    content_hash: str


def write_split(
    frame: DataFrame, test_size: float, seed: int, staging: dict[str, Path]
) -> list[WrittenSplit]:
    """Split `frame` and write `train_set` and `test_set` (SPLIT_COLUMNS, sorted by the
    frame's sort keys) into their new staging directories; all or nothing."""
    from pyspark.sql import functions as F

    split = hash_split(frame, test_size, seed)
    written: list[WrittenSplit] = []
    try:
        for name, is_test in (("train_set", False), ("test_set", True)):
            part = split.frame.where(F.col(TEST_COLUMN) == F.lit(is_test)).select(*SPLIT_COLUMNS)
            part.orderBy(*TRAINING_FRAME_SORT_KEYS).write.mode("errorifexists").parquet(
                str(staging[name])
            )
            stored = frame.sparkSession.read.parquet(str(staging[name]))
            # The hash and the counts in one pass over the written set.
            digest, stats = content_hash(
                stored, written_rows=F.count(F.lit(1)), positives=F.sum(TARGET)
            )
            rows, positives = int(stats["written_rows"]), int(stats["positives"] or 0)
            written.append(WrittenSplit(name, staging[name], rows, positives, digest))
        sizes = {item.name: item.rows for item in written}
        if sizes != {"train_set": split.rows - split.test_rows, "test_set": split.test_rows}:
            raise RuntimeError(f"The split wrote {sizes} rows of {split.rows}.")
        if not all(dataset_files(item.staging) for item in written):
            raise RuntimeError(f"The split wrote no part files: {staging}.")
    except BaseException:
        for directory in staging.values():
            shutil.rmtree(directory, ignore_errors=True)
        raise
    finally:
        split.release()
    return written
