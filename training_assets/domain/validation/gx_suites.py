"""The Great Expectations suites: one per asset, each expectation tagged with the check it
belongs to (`meta["check"]`), so every concern is validated and blocks on its own.

Types come from the applied Feast registry (the `feast_registry` asset value), never from a
copied list. GX is imported inside the functions: building a suite needs it, loading the code
location does not.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from training_assets.schema import (
    AS_OF_SUFFIX,
    ENTITY_KEY,
    ENTITY_TO_PANDAS_DTYPE,
    EVENT_TIMESTAMP,
    FEAST_TO_PANDAS_DTYPE,
    FEATURE_RANGES,
    FEATURE_TIMESTAMP,
    FEATURE_VIEW,
    FEATURES,
    LABEL_CLASSES,
    TARGET,
    TRAINING_FRAME_COLUMNS,
)

if TYPE_CHECKING:
    import great_expectations as gx
    from great_expectations.expectations import Expectation

# The values check compares integral features with their rounded copy in this column.
ROUNDED_SUFFIX = "__rounded"

# Checks on training_frame, in the order they appear in the suite.
SCHEMA = "training_frame_schema"
COMPLETENESS = "training_frame_completeness"
LABEL_DOMAIN = "training_frame_label_domain"
VALUES = "training_frame_values"
VOLUME = "training_frame_volume"
LEAKAGE = "training_frame_leakage"
TRAINING_FRAME_CHECKS = (SCHEMA, COMPLETENESS, LABEL_DOMAIN, VALUES, VOLUME, LEAKAGE)

# Checks on the splits.
SPLIT_PARTITION = "train_test_split_partition"
SPLIT_RATIO = "train_test_split_ratio"
TRAIN_CLASSES = "train_set_label_classes"
TEST_CLASSES = "test_set_label_classes"


def declared_features(feast_registry: Mapping[str, Any]) -> dict[str, str]:
    """Feature name -> Feast type (e.g. "Float32") of the features the frame holds."""
    view = feast_registry["feature_views"][FEATURE_VIEW]
    return {name: view["features"].get(name, "?") for name in FEATURES}


def expected_dtypes(feast_registry: Mapping[str, Any], timestamp_unit: str) -> dict[str, str]:
    """Column -> pandas dtype, as the Feast registry declares them.

    The event timestamp must be a UTC timestamp; its resolution (`timestamp_unit`: s, ms, us
    or ns) is not a matter of the data's correctness, so it is taken from the frame.
    """
    entity_type = next(
        (
            entity.get("value_type", "INT64")
            for entity in feast_registry.get("entities", {}).values()
            if entity.get("join_key") == ENTITY_KEY
        ),
        "INT64",
    )
    dtypes = {
        EVENT_TIMESTAMP: f"datetime64[{timestamp_unit}, UTC]",
        FEATURE_TIMESTAMP: f"datetime64[{timestamp_unit}, UTC]",
        ENTITY_KEY: ENTITY_TO_PANDAS_DTYPE.get(entity_type, entity_type.lower()),
        TARGET: "int64",
    }
    for name, feast_type in declared_features(feast_registry).items():
        dtypes[name] = FEAST_TO_PANDAS_DTYPE.get(feast_type, f"unknown Feast type {feast_type}")
    return dtypes


def _integral(feast_type: str) -> bool:
    return feast_type.startswith("Int")


def training_frame_suite(
    feast_registry: Mapping[str, Any], *, min_rows: int, now: datetime, timestamp_unit: str
) -> gx.ExpectationSuite:
    """Every expectation on `training_frame`, tagged with its check."""
    import great_expectations as gx
    import great_expectations.expectations as gxe

    def tag(check: str, expectation: Expectation) -> Expectation:
        expectation.meta = {**(expectation.meta or {}), "check": check}
        return expectation

    dtypes = expected_dtypes(feast_registry, timestamp_unit)
    declared = declared_features(feast_registry)
    expectations: list[Expectation] = [
        tag(
            SCHEMA,
            gxe.ExpectTableColumnsToMatchSet(
                column_set=list(TRAINING_FRAME_COLUMNS),
                exact_match=True,
                description="exactly the label columns and the Feast features",
            ),
        )
    ]
    for column, dtype in dtypes.items():
        source = (
            f"Feast {FEATURE_VIEW} declares {declared[column]}"
            if column in declared
            else "when the feature row was observed"
            if column == FEATURE_TIMESTAMP
            else "label column"
        )
        expectations.append(
            tag(
                SCHEMA,
                gxe.ExpectColumnTypeToBe(
                    column=column, type_=dtype, description=f"dtype {dtype} ({source})"
                ),
            )
        )
    for column in TRAINING_FRAME_COLUMNS:
        expectations.append(
            tag(
                COMPLETENESS,
                gxe.ExpectColumnValuesToNotBeNull(column=column, description="no nulls"),
            )
        )
    expectations.append(
        tag(
            LABEL_DOMAIN,
            gxe.ExpectColumnValuesToBeInSet(
                column=TARGET,
                value_set=list(LABEL_CLASSES),
                description=f"label in {set(LABEL_CLASSES)}",
            ),
        )
    )
    for column, (low, high) in FEATURE_RANGES.items():
        bounds = f"[{low}, {high}]" if high is not None else f">= {low}"
        expectations.append(
            tag(
                VALUES,
                gxe.ExpectColumnValuesToBeBetween(
                    column=column, min_value=low, max_value=high, description=f"in {bounds}"
                ),
            )
        )
        if _integral(declared.get(column, "")):
            expectations.append(
                tag(
                    VALUES,
                    gxe.ExpectColumnPairValuesToBeEqual(
                        column_A=column,
                        column_B=column + ROUNDED_SUFFIX,
                        ignore_row_if="either_value_is_missing",
                        description=f"whole numbers (Feast declares {declared[column]})",
                    ),
                )
            )
    expectations.append(
        tag(
            VALUES,
            gxe.ExpectColumnMaxToBeBetween(
                column=EVENT_TIMESTAMP,
                max_value=now.isoformat(),
                description=f"not in the future (validated at {now.isoformat()})",
            ),
        )
    )
    expectations.append(
        tag(
            VOLUME,
            gxe.ExpectTableRowCountToBeBetween(
                min_value=min_rows, description=f"at least {min_rows} rows (DATA_MIN_ROWS)"
            ),
        )
    )
    expectations.append(
        tag(
            VOLUME,
            gxe.ExpectColumnDistinctValuesToContainSet(
                column=TARGET,
                value_set=list(LABEL_CLASSES),
                description="every label class present",
            ),
        )
    )
    for column in FEATURES:
        expectations.append(
            tag(
                LEAKAGE,
                gxe.ExpectColumnPairValuesToBeEqual(
                    column_A=column,
                    column_B=column + AS_OF_SUFFIX,
                    ignore_row_if="both_values_are_missing",
                    description=(
                        "equals the feature source's latest value at or before the event "
                        "(within the ttl, ties broken by the latest created)"
                    ),
                ),
            )
        )
    expectations.append(
        tag(
            LEAKAGE,
            gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A=EVENT_TIMESTAMP,
                column_B=FEATURE_TIMESTAMP,
                or_equal=True,
                ignore_row_if="either_value_is_missing",
                description="feature observed at or before the event",
            ),
        )
    )
    return gx.ExpectationSuite(name="training_frame", expectations=expectations)


def split_suite(asset: str, *, min_rows: int, max_rows: int) -> gx.ExpectationSuite:
    """Expectations on `train_set` or `test_set`: its share of the rows and both classes."""
    import great_expectations as gx
    import great_expectations.expectations as gxe

    classes_check = TRAIN_CLASSES if asset == "train_set" else TEST_CLASSES
    return gx.ExpectationSuite(
        name=asset,
        expectations=[
            gxe.ExpectTableRowCountToBeBetween(
                min_value=min_rows,
                max_value=max_rows,
                meta={"check": SPLIT_RATIO},
                description=f"{min_rows}..{max_rows} rows, as the configured test_size implies",
            ),
            gxe.ExpectColumnDistinctValuesToContainSet(
                column=TARGET,
                value_set=list(LABEL_CLASSES),
                meta={"check": classes_check},
                description="both label classes present",
            ),
        ],
    )


def partition_suite() -> gx.ExpectationSuite:
    """On a table of distinct training_frame rows with their counts in the frame and splits."""
    import great_expectations as gx
    import great_expectations.expectations as gxe

    return gx.ExpectationSuite(
        name="train_test_partition",
        expectations=[
            gxe.ExpectColumnPairValuesToBeEqual(
                column_A="rows_in_training_frame",
                column_B="rows_in_train_and_test",
                meta={"check": SPLIT_PARTITION},
                description=(
                    "each training_frame row lands in exactly one of train_set and test_set "
                    "(disjoint, nothing lost, nothing added)"
                ),
            )
        ],
    )


def part(suite: gx.ExpectationSuite, check: str) -> list[Expectation]:
    """The expectations of `suite` that belong to `check`."""
    return [e for e in suite.expectations if (e.meta or {}).get("check") == check]
