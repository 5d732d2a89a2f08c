"""The data checks of the Spark profile (TRAINING_ENGINE=spark): the checks of
`data_checks.py` (same names, expectations, blocking, metadata and stored GX-shaped records),
evaluated by Spark SQL over the stored dataset the executors wrote, whatever its size: the
frame is never brought to the run's process. Drift is `data_checks.py`'s own (it reads the
feature columns only).
"""

from datetime import UTC, datetime
from typing import Any

import dagster as dg

from training_assets.checks import data_checks
from training_assets.domain.validation.frame_checks import ASSET, FRAME_CHECKS, FrameCheck
from training_assets.domain.validation.frame_checks_sql import run_frame_check_sql
from training_assets.domain.validation.spark_sql_engine import SparkStoredFrame
from training_assets.io_managers.files import StoredVersion
from training_assets.resources.data_validation import DataValidationResource
from training_assets.resources.spark import SparkResource


def _frame_check(spec: FrameCheck) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=ASSET,
        compute_kind="spark",
        name=spec.name,
        blocking=True,
        additional_ins={"feast_registry": dg.AssetIn("feast_registry")},
        description=spec.description,
    )
    def _check(
        training_frame: StoredVersion,
        feast_registry: dict[str, Any],
        data_validation: DataValidationResource,
        spark: SparkResource,
    ) -> dg.AssetCheckResult:
        session = spark.session()
        return run_frame_check_sql(
            spec,
            training_frame.path,
            feast_registry,
            data_validation,
            datetime.now(UTC),
            open_frame=lambda path: SparkStoredFrame(session, path),
        )

    return _check


# Collected by Dagster's module loader, as in data_checks.py.
frame_checks: list[dg.AssetChecksDefinition] = [_frame_check(spec) for spec in FRAME_CHECKS]
training_frame_drift = data_checks.training_frame_drift
