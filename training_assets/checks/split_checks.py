"""Blocking checks on the train/test split (Great Expectations suites per split asset).

- `train_test_split_partition` (on train_set): every training_frame row is in exactly one
  of train_set and test_set, compared as a multiset of rows.
- `train_test_split_ratio` (on train_set): the sizes match the test_size the split used.
- `train_set_label_classes` / `test_set_label_classes`: both label classes in each set.

The partition and ratio checks sit on train_set so that they block `model`. The suites and
their evaluation are in `domain/validation/split_validation.py`.
"""

import dagster as dg

from training_assets.config import SplitConfig
from training_assets.domain.check_history import stored_materialization
from training_assets.domain.validation.gx_suites import (
    SPLIT_PARTITION,
    SPLIT_RATIO,
    TEST_CLASSES,
    TRAIN_CLASSES,
)
from training_assets.domain.validation.gx_validation import check_result
from training_assets.domain.validation.split_validation import (
    classes_of_stored,
    partition_of_stored,
    ratio_of_stored,
)
from training_assets.io_managers.files import StoredVersion
from training_assets.resources.data_validation import DataValidationResource


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
    train_set: StoredVersion,
    test_set: StoredVersion,
    training_frame: StoredVersion,
    data_validation: DataValidationResource,
) -> dg.AssetCheckResult:
    outcome, extra = partition_of_stored(training_frame, train_set, test_set, data_validation)
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
    train_set: StoredVersion,
    test_set: StoredVersion,
    data_validation: DataValidationResource,
) -> dg.AssetCheckResult:
    test_size, source = _split_test_size(context)
    outcome, train_rows, test_rows = ratio_of_stored(
        train_set, test_set, test_size, data_validation
    )
    total = train_rows + test_rows
    return check_result(
        outcome,
        data_validation,
        asset="train_set",
        check=SPLIT_RATIO,
        extra_metadata={
            "test_size": test_size,
            "test_size_from": source,
            "train_rows": train_rows,
            "test_rows": test_rows,
            "observed_test_share": test_rows / total if total else 0.0,
        },
    )


def _split_test_size(context: dg.AssetCheckExecutionContext) -> tuple[float, str]:
    # The test_set of this run (two runs at once may split with different sizes).
    event = stored_materialization(context.instance, dg.AssetKey("test_set"), context.run.run_id)
    materialization = event.asset_materialization if event else None
    value = materialization.metadata.get("test_size") if materialization else None
    if value is not None:
        return float(value.value), f"test_set materialization in run {event.run_id}"
    return SplitConfig().test_size, "SplitConfig default (no test_set materialization found)"


def _label_classes_check(asset: str, name: str) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=asset,
        compute_kind="great_expectations",
        name=name,
        blocking=True,
        description=f"{asset} holds both label classes.",
    )
    def _check(
        split: StoredVersion, data_validation: DataValidationResource
    ) -> dg.AssetCheckResult:
        outcome, counts = classes_of_stored(asset, split, data_validation)
        return check_result(
            outcome,
            data_validation,
            asset=asset,
            check=name,
            extra_metadata={"class_counts": dg.MetadataValue.json(counts)},
        )

    return _check


train_set_label_classes = _label_classes_check("train_set", TRAIN_CLASSES)
test_set_label_classes = _label_classes_check("test_set", TEST_CLASSES)
