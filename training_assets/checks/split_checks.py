"""Blocking checks on the train/test split (Great Expectations suites per split asset).

- `train_test_split_partition` (on train_set): every training_frame row is in exactly one
  of train_set and test_set. The splits carry no row id, so rows are compared as a multiset:
  for each distinct row, its count in the frame must equal its count in train plus test.
- `train_test_split_ratio` (on train_set): the sizes match the test_size the split used.
- `train_set_label_classes` / `test_set_label_classes`: both label classes in each set.

The partition and ratio checks sit on train_set so that they block `model`.
"""

import math
from typing import Any

import dagster as dg
import pandas as pd

from training_assets.assets.splits import SPLIT_COLUMNS
from training_assets.checks.gx_suites import (
    SPLIT_PARTITION,
    SPLIT_RATIO,
    TEST_CLASSES,
    TRAIN_CLASSES,
    part,
    partition_suite,
    split_suite,
)
from training_assets.checks.gx_validation import SuiteOutcome, check_result, run_suite
from training_assets.config import SplitConfig
from training_assets.resources.data_validation import DataValidationSettings
from training_assets.schema import TARGET

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
    settings: DataValidationSettings,
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
    settings: DataValidationSettings,
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


def validate_classes(asset: str, frame: pd.DataFrame, settings: DataValidationSettings):
    check = TRAIN_CLASSES if asset == "train_set" else TEST_CLASSES
    return run_suite(
        frame,
        part(split_suite(asset, min_rows=0, max_rows=len(frame)), check),
        suite_name=check,
        max_examples=settings.max_examples,
    )


def _class_counts(frame: pd.DataFrame) -> dict[str, int]:
    if TARGET not in frame:
        return {}
    return {str(k): int(v) for k, v in frame[TARGET].value_counts().sort_index().items()}


@dg.asset_check(
    asset="train_set",
    compute_kind="great_expectations",
    name=SPLIT_PARTITION,
    blocking=True,
    additional_ins={
        "test_set": dg.AssetIn("test_set"),
        "training_frame": dg.AssetIn("training_frame"),
    },
    description=(
        "train_set and test_set partition training_frame: each row in exactly one of them "
        "(disjoint, none lost, none added), compared as a multiset of rows."
    ),
)
def train_test_split_partition(
    train_set: pd.DataFrame,
    test_set: pd.DataFrame,
    training_frame: pd.DataFrame,
    data_validation: DataValidationSettings,
) -> dg.AssetCheckResult:
    outcome, extra = validate_partition(training_frame, train_set, test_set, data_validation)
    return check_result(
        outcome, data_validation, asset="train_set", check=SPLIT_PARTITION, extra_metadata=extra
    )


@dg.asset_check(
    asset="train_set",
    compute_kind="great_expectations",
    name=SPLIT_RATIO,
    blocking=True,
    additional_ins={"test_set": dg.AssetIn("test_set")},
    description=(
        "The split sizes match the test_size the split used (read from the test_set "
        "materialization), to within rounding."
    ),
)
def train_test_split_ratio(
    context: dg.AssetCheckExecutionContext,
    train_set: pd.DataFrame,
    test_set: pd.DataFrame,
    data_validation: DataValidationSettings,
) -> dg.AssetCheckResult:
    test_size, source = _split_test_size(context)
    outcome = validate_ratio(train_set, test_set, test_size, data_validation)
    total = len(train_set) + len(test_set)
    return check_result(
        outcome,
        data_validation,
        asset="train_set",
        check=SPLIT_RATIO,
        extra_metadata={
            "test_size": test_size,
            "test_size_from": source,
            "train_rows": len(train_set),
            "test_rows": len(test_set),
            "observed_test_share": len(test_set) / total if total else 0.0,
        },
    )


def _split_test_size(context: dg.AssetCheckExecutionContext) -> tuple[float, str]:
    event = context.instance.get_latest_materialization_event(dg.AssetKey("test_set"))
    materialization = event.asset_materialization if event else None
    value = materialization.metadata.get("test_size") if materialization else None
    if value is not None:
        return float(value.value), f"test_set materialization in run {event.run_id}"
    return SplitConfig().test_size, "SplitConfig default (no test_set materialization found)"


@dg.asset_check(
    asset="train_set",
    compute_kind="great_expectations",
    name=TRAIN_CLASSES,
    blocking=True,
    description="train_set holds both label classes.",
)
def train_set_label_classes(
    train_set: pd.DataFrame, data_validation: DataValidationSettings
) -> dg.AssetCheckResult:
    return check_result(
        validate_classes("train_set", train_set, data_validation),
        data_validation,
        asset="train_set",
        check=TRAIN_CLASSES,
        extra_metadata={"class_counts": dg.MetadataValue.json(_class_counts(train_set))},
    )


@dg.asset_check(
    asset="test_set",
    compute_kind="great_expectations",
    name=TEST_CLASSES,
    blocking=True,
    description="test_set holds both label classes.",
)
def test_set_label_classes(
    test_set: pd.DataFrame, data_validation: DataValidationSettings
) -> dg.AssetCheckResult:
    return check_result(
        validate_classes("test_set", test_set, data_validation),
        data_validation,
        asset="test_set",
        check=TEST_CLASSES,
        extra_metadata={"class_counts": dg.MetadataValue.json(_class_counts(test_set))},
    )
