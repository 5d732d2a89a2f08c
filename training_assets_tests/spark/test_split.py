"""The hash split on Spark: the same rows go to test whatever the run or the partitioning,
exactly scikit-learn's number of them (`ceil(n * test_size)`), duplicates included."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from training_assets.schema import TRAINING_FRAME_SORT_KEYS
from training_assets_tests.spark.data import write_case

pytest.importorskip("pyspark")
pytestmark = [pytest.mark.slow, pytest.mark.spark]

KEYS = list(TRAINING_FRAME_SORT_KEYS)


@pytest.fixture(scope="module")
def frame(spark, tmp_path_factory):
    from training_assets.spark.asof_join import write_training_frame

    directory = tmp_path_factory.mktemp("split")
    # 20k labels + 2k exact duplicates.
    case = write_case(directory / "data", 9, 500, 20_000, 20_000)
    written = write_training_frame(spark, case.labels_path, case.plan, directory / "frame")
    return spark.read.parquet(str(written.path))


def _test_rows(split) -> pd.DataFrame:
    """How many rows of each identity went to test (duplicates share an identity)."""
    from pyspark.sql import functions as F

    counts = split.groupBy(*KEYS).agg(
        F.count("*").alias("rows"), F.sum(F.col("is_test").cast("int")).alias("test")
    )
    return counts.toPandas().sort_values(KEYS).reset_index(drop=True)


def test_deterministic_across_runs_and_partitionings(frame):
    from pyspark.sql import functions as F

    from training_assets.spark.split import assign_split

    first = _test_rows(assign_split(frame, 0.2, seed=17))
    one_partition = _test_rows(assign_split(frame.repartition(1), 0.2, seed=17))
    shuffled = _test_rows(
        assign_split(frame.repartition(7, F.rand(seed=1)).orderBy(F.rand(seed=2)), 0.2, seed=17)
    )
    for other in (one_partition, shuffled):
        pd.testing.assert_frame_equal(first, other)
    other_seed = _test_rows(assign_split(frame, 0.2, seed=18))
    assert not first["test"].equals(other_seed["test"])
    # Exact duplicates are separate rows: some identities are split across both sets.
    assert ((first["rows"] > 1) & (first["test"] > 0) & (first["test"] < first["rows"])).any()


def test_exactly_scikit_learns_sizes(frame):
    from training_assets.spark.split import assign_split

    rows = frame.count()
    for share in (0.2, 0.5, 0.013):
        test = assign_split(frame, share, seed=17).where("is_test").count()
        assert test == math.ceil(rows * share), (test, rows, share)
    # Tiny frames too (the cutoff search widens its band to every row).
    tiny = frame.limit(7)
    assert assign_split(tiny, 0.2, seed=17).where("is_test").count() == 2
    with pytest.raises(ValueError):
        assign_split(frame, 1.0)
