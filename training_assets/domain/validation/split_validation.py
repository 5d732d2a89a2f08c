"""The split's validation: partition, ratio and class suites on train_set and test_set.

The splits carry no row id, so the partition compares rows as a multiset: for each distinct
row, its count in the frame must equal its count in train plus test.
"""

import math
from typing import Any

import pandas as pd

from training_assets.domain.validation.frame_checks import class_counts
from training_assets.domain.validation.gx_suites import (
    SPLIT_PARTITION,
    SPLIT_RATIO,
    TEST_CLASSES,
    TRAIN_CLASSES,
    part,
    partition_suite,
    split_suite,
)
from training_assets.domain.validation.gx_validation import (
    SuiteOutcome,
    outcome_from_result,
    run_suite,
)
from training_assets.domain.validation.sql_engine import (
    SqlExpectations,
    StoredFrame,
    suite_document,
)
from training_assets.io_managers.files import StoredVersion, parquet_source, stored_row_count
from training_assets.resources.data_validation import DataValidationResource
from training_assets.schema import SPLIT_COLUMNS, TARGET

IN_FRAME, IN_SPLITS = "rows_in_training_frame", "rows_in_train_and_test"
IN_TRAIN, IN_TEST = "rows_in_train_set", "rows_in_test_set"


def partition_table(
    training_frame: pd.DataFrame, train_set: pd.DataFrame, test_set: pd.DataFrame
) -> pd.DataFrame:
    """Distinct rows of the split columns with their counts in the frame, train and test.

    Counted by one DuckDB GROUP BY over the three frames (NULLs form one group, like
    `value_counts(dropna=False)`): several times faster than three pandas `value_counts`
    at a million rows.
    """
    import duckdb

    columns = [
        c for c in SPLIT_COLUMNS if all(c in f for f in (training_frame, train_set, test_set))
    ]
    quoted = ", ".join('"' + c.replace('"', '""') + '"' for c in columns)
    parts = (("frame", training_frame), ("train", train_set), ("test", test_set))
    connection = duckdb.connect()
    try:
        for name, frame in parts:
            connection.register(name, frame[columns])
        union = " UNION ALL ".join(
            f"SELECT {quoted}, '{name}' AS part FROM {name}" for name, _ in parts
        )
        table = connection.execute(
            f"""
            SELECT {quoted},
                   count(*) FILTER (WHERE part = 'frame') AS {IN_FRAME},
                   count(*) FILTER (WHERE part = 'train') AS {IN_TRAIN},
                   count(*) FILTER (WHERE part = 'test') AS {IN_TEST}
            FROM ({union}) GROUP BY {quoted}
            ORDER BY {IN_FRAME} DESC, {quoted}
            """
        ).df()
    finally:
        connection.close()
    for name in (IN_FRAME, IN_TRAIN, IN_TEST):
        table[name] = table[name].astype("int64")
    table[IN_SPLITS] = table[IN_TRAIN] + table[IN_TEST]
    return table


def validate_partition(
    training_frame: pd.DataFrame,
    train_set: pd.DataFrame,
    test_set: pd.DataFrame,
    settings: DataValidationResource,
) -> tuple[SuiteOutcome, dict[str, Any]]:
    table = partition_table(training_frame, train_set, test_set)
    outcome = run_suite(
        table,
        part(partition_suite(), SPLIT_PARTITION),
        suite_name=SPLIT_PARTITION,
        index_columns=[*SPLIT_COLUMNS, IN_TRAIN, IN_TEST],
        max_examples=settings.max_examples,
    )
    in_both = table[(table[IN_TRAIN] > 0) & (table[IN_TEST] > 0)]
    extra = {
        "training_frame_rows": len(training_frame),
        "train_rows": len(train_set),
        "test_rows": len(test_set),
        "distinct_rows": len(table),
        # Only possible when the frame holds identical rows (e.g. repeated orders with the
        # same features): each copy is in one set, which is not an overlap of rows.
        "identical_rows_in_both_sets": len(in_both),
    }
    return outcome, extra


def expected_test_rows(total: int, test_size: float) -> tuple[int, int]:
    """Bounds on the test rows a `test_size` share of `total` rows may round to."""
    exact = total * test_size
    return math.floor(exact), math.ceil(exact)


def validate_ratio(
    train_set: pd.DataFrame,
    test_set: pd.DataFrame,
    test_size: float,
    settings: DataValidationResource,
) -> SuiteOutcome:
    total = len(train_set) + len(test_set)
    low, high = expected_test_rows(total, test_size)
    train = run_suite(
        train_set,
        part(split_suite("train_set", min_rows=total - high, max_rows=total - low), SPLIT_RATIO),
        suite_name=f"{SPLIT_RATIO}_train",
        max_examples=settings.max_examples,
    )
    test = run_suite(
        test_set,
        part(split_suite("test_set", min_rows=low, max_rows=high), SPLIT_RATIO),
        suite_name=f"{SPLIT_RATIO}_test",
        max_examples=settings.max_examples,
    )
    return train.merged(test)


def validate_classes(asset: str, frame: pd.DataFrame, settings: DataValidationResource):
    check = TRAIN_CLASSES if asset == "train_set" else TEST_CLASSES
    return run_suite(
        frame,
        part(split_suite(asset, min_rows=0, max_rows=len(frame)), check),
        suite_name=check,
        max_examples=settings.max_examples,
    )


# ---- the same checks on the stored versions, whatever their size ----------------------------


def stored_rows(stored: StoredVersion) -> int:
    return stored_row_count(stored.path)


def _small(settings: DataValidationResource, *stored: StoredVersion) -> bool:
    return all(stored_rows(s) <= settings.out_of_core_rows for s in stored)


def partition_of_stored(
    frame: StoredVersion,
    train: StoredVersion,
    test: StoredVersion,
    settings: DataValidationResource,
) -> tuple[SuiteOutcome, dict[str, Any]]:
    """The partition check. Above the out-of-core size, rows are compared as a multiset by
    their count and the sum of their hashes (equal multisets, equal sums; a row lost, added
    or changed changes the sum), one scan of each file in DuckDB; GX then checks those two
    figures the way it checks the distinct rows of a small frame."""
    if _small(settings, frame):
        return validate_partition(
            pd.read_parquet(frame.path),
            pd.read_parquet(train.path),
            pd.read_parquet(test.path),
            settings,
        )
    import duckdb

    columns = ", ".join(f'"{c}"' for c in SPLIT_COLUMNS)
    connection = duckdb.connect()
    try:
        connection.execute(f"SET memory_limit = '{settings.duckdb_memory_limit}'")
        figures = {
            name: connection.execute(
                f"SELECT count(*), sum(hash({columns})::HUGEINT) "
                f"FROM read_parquet('{parquet_source(stored.path)}')"
            ).fetchone()
            for name, stored in (("frame", frame), ("train", train), ("test", test))
        }
    finally:
        connection.close()
    table = pd.DataFrame(
        {
            "figure": ["rows", "sum of row hashes"],
            IN_FRAME: [int(v) for v in figures["frame"]],
            IN_SPLITS: [int(figures["train"][i]) + int(figures["test"][i]) for i in range(2)],
        }
    )
    outcome = run_suite(
        table,
        part(partition_suite(), SPLIT_PARTITION),
        suite_name=SPLIT_PARTITION,
        index_columns=["figure"],
        max_examples=settings.max_examples,
    )
    extra = {
        "training_frame_rows": int(figures["frame"][0]),
        "train_rows": int(figures["train"][0]),
        "test_rows": int(figures["test"][0]),
        "compared_as": "row count and sum of row hashes (out of core)",
    }
    return outcome, extra


def ratio_of_stored(
    train: StoredVersion, test: StoredVersion, test_size: float, settings: DataValidationResource
) -> tuple[SuiteOutcome, int, int]:
    """The ratio check, from the files' row counts when they are big."""
    if _small(settings, train):
        train_set, test_set = pd.read_parquet(train.path), pd.read_parquet(test.path)
        return (
            validate_ratio(train_set, test_set, test_size, settings),
            len(train_set),
            len(test_set),
        )
    rows = {name: stored_rows(stored) for name, stored in (("train", train), ("test", test))}
    total = rows["train"] + rows["test"]
    low, high = expected_test_rows(total, test_size)
    outcomes = []
    for name, stored, bounds in (
        ("train_set", train, (total - high, total - low)),
        ("test_set", test, (low, high)),
    ):
        with StoredFrame(stored.path, settings.duckdb_memory_limit) as frame:
            items = SqlExpectations(frame).evaluate(
                part(split_suite(name, min_rows=bounds[0], max_rows=bounds[1]), SPLIT_RATIO)
            )
        outcomes.append(
            SuiteOutcome(
                f"{SPLIT_RATIO}_{name.split('_')[0]}",
                [outcome_from_result(item, settings.max_examples) for item in items],
                [suite_document(SPLIT_RATIO, items)],
            )
        )
    return outcomes[0].merged(outcomes[1]), rows["train"], rows["test"]


def classes_of_stored(
    asset: str, stored: StoredVersion, settings: DataValidationResource
) -> tuple[SuiteOutcome, dict[str, int]]:
    """The label classes check, counted in DuckDB when the set is big."""
    check = TRAIN_CLASSES if asset == "train_set" else TEST_CLASSES
    if _small(settings, stored):
        frame = pd.read_parquet(stored.path)
        return validate_classes(asset, frame, settings), class_counts(frame)
    with StoredFrame(stored.path, settings.duckdb_memory_limit) as frame:
        items = SqlExpectations(frame).evaluate(
            part(split_suite(asset, min_rows=0, max_rows=frame.rows), check)
        )
        counts = {
            str(label): int(count)
            for label, count in frame.all(
                f'SELECT "{TARGET}", count(*) FROM frame GROUP BY 1 ORDER BY 1'
            )
        }
    outcome = SuiteOutcome(
        check,
        [outcome_from_result(item, settings.max_examples) for item in items],
        [suite_document(check, items)],
    )
    return outcome, counts
