"""The Spark split's refusal of an unsplittable frame, from class counts alone, says what the
DuckDB profile's `check_splittable` says about the same frame (no Spark needed)."""

import pandas as pd
import pytest

from training_assets.domain.spark_splitting import check_split_counts
from training_assets.domain.splitting import SplitError, check_splittable
from training_assets.schema import TARGET


@pytest.mark.parametrize(
    ("labels", "test_size"),
    [([1], 0.2), ([0, 1, 1, 0], 0.99), ([1, 1, 1, 1, 0], 0.2), ([1] * 10, 0.2)],
)
def test_same_verdict_and_message_as_the_duckdb_profile(labels, test_size):
    frame = pd.DataFrame({TARGET: labels})
    # The DuckDB profile's counts in order of first appearance (pyarrow's value_counts),
    # Spark's sorted by label: the messages must not depend on it.
    as_listed = {int(k): int(v) for k, v in frame[TARGET].value_counts(sort=False).items()}
    with pytest.raises(SplitError) as duckdb:
        check_splittable(len(frame), as_listed, test_size)
    counts = dict(sorted(as_listed.items()))
    with pytest.raises(SplitError) as spark:
        check_split_counts(len(frame), counts, test_size)
    assert str(spark.value) == str(duckdb.value)


def test_a_splittable_frame_passes():
    check_split_counts(400, {0: 150, 1: 250}, 0.2)
