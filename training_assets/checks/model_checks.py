"""Model validation as asset checks: thresholds, champion/challenger, contract, latency.

The blocking ones stand between a trained model and the registry: when any fails, nothing is
registered and the champion alias stays where it is.
"""

import time
from typing import Any

import dagster as dg
import numpy as np
import pandas as pd

from training_assets.resources.mlflow_tracking import MlflowResource
from training_assets.resources.thresholds import ModelThresholds
from training_assets.schema import FEATURES, TARGET

CHAMPION_ALIAS = "champion"
_TEST_SET_IN = {"test_set": dg.AssetIn("test_set")}


def _load_pyfunc(mlflow_tracking: MlflowResource, model_uri: str):
    from training_assets.assets.mlflow_logging import load_pyfunc

    return load_pyfunc(mlflow_tracking.tracking_uri, model_uri)


@dg.asset_check(
    asset="model_metrics",
    compute_kind="mlflow",
    blocking=True,
    description="RMSE and MAE on the test set are at most the configured thresholds.",
)
def model_metrics_within_thresholds(
    model_metrics: dict[str, float], thresholds: ModelThresholds
) -> dg.AssetCheckResult:
    limits = {"rmse": thresholds.max_rmse, "mae": thresholds.max_mae}
    failed = {
        name: f"{model_metrics[name]:.4f} > {limit}"
        for name, limit in limits.items()
        if not model_metrics[name] <= limit
    }
    return dg.AssetCheckResult(
        passed=not failed,
        metadata={
            **{name: model_metrics[name] for name in limits},
            **{f"max_{name}": limit for name, limit in limits.items()},
            "failed": dg.MetadataValue.json(failed),
        },
    )


@dg.asset_check(
    asset="model_metrics",
    compute_kind="mlflow",
    blocking=True,
    additional_ins=_TEST_SET_IN,
    description=(
        "The new model's test RMSE is at most the current champion's RMSE on the same test "
        "set plus the tolerance. Passes when there is no champion yet."
    ),
)
def model_not_worse_than_champion(
    model_metrics: dict[str, float],
    test_set: pd.DataFrame,
    mlflow_tracking: MlflowResource,
    thresholds: ModelThresholds,
) -> dg.AssetCheckResult:
    from mlflow.exceptions import MlflowException
    from sklearn.metrics import root_mean_squared_error

    name = mlflow_tracking.registered_model_name
    try:
        champion = mlflow_tracking.client().get_model_version_by_alias(name, CHAMPION_ALIAS)
    except MlflowException:
        return dg.AssetCheckResult(
            passed=True,
            metadata={"champion": f"no {name}@{CHAMPION_ALIAS} yet: nothing to compare with"},
        )
    predictions = _load_pyfunc(mlflow_tracking, f"models:/{name}/{champion.version}").predict(
        test_set[list(FEATURES)]
    )
    champion_rmse = float(root_mean_squared_error(test_set[TARGET], predictions))
    limit = champion_rmse + thresholds.champion_tolerance
    return dg.AssetCheckResult(
        passed=model_metrics["rmse"] <= limit,
        metadata={
            "champion": f"{name} version {champion.version}",
            "champion_rmse": champion_rmse,
            "challenger_rmse": model_metrics["rmse"],
            "rmse_difference": model_metrics["rmse"] - champion_rmse,
            "tolerance": thresholds.champion_tolerance,
        },
    )


@dg.asset_check(
    asset="model",
    compute_kind="mlflow",
    blocking=True,
    additional_ins=_TEST_SET_IN,
    description=(
        "Serving contract: the logged model loads through mlflow.pyfunc, its input schema is "
        "the feature columns, it refuses a frame missing a column, and returns one float per row."
    ),
)
def model_serving_contract(
    model: dict[str, Any], test_set: pd.DataFrame, mlflow_tracking: MlflowResource
) -> dg.AssetCheckResult:
    from mlflow.exceptions import MlflowException

    loaded = _load_pyfunc(mlflow_tracking, model["model_uri"])
    schema_columns = loaded.metadata.get_input_schema().input_names()
    problems = []
    if schema_columns != list(FEATURES):
        problems.append(f"input schema is {schema_columns}, expected {list(FEATURES)}")

    frame = test_set[list(FEATURES)]
    predictions = np.asarray(loaded.predict(frame))
    if predictions.shape != (len(frame),) or not np.issubdtype(predictions.dtype, np.floating):
        problems.append(
            f"predict gave {predictions.dtype} {predictions.shape}, not a float per row"
        )

    dropped = FEATURES[0]
    try:
        loaded.predict(frame.drop(columns=dropped))
        problems.append(f"a frame without {dropped!r} was accepted")
        refusal = "none"
    except MlflowException as error:
        # MLflow's message repeats the frame and the schema, then "Error: <why>".
        refusal = str(error).rsplit("Error:", 1)[-1].strip()
        if dropped not in refusal:
            problems.append(f"the refusal does not name the missing column: {refusal}")
    return dg.AssetCheckResult(
        passed=not problems,
        metadata={
            "input_schema": ", ".join(schema_columns),
            "prediction_dtype": str(predictions.dtype),
            "missing_column_error": refusal,
            "problems": dg.MetadataValue.json(problems),
        },
    )


def _p95_ms(predict, frame: pd.DataFrame, repeats: int) -> float:
    predict(frame)  # warm-up
    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        predict(frame)
        timings.append((time.perf_counter() - start) * 1000)
    return float(np.percentile(timings, 95))


@dg.asset_check(
    asset="model",
    compute_kind="mlflow",
    blocking=False,
    additional_ins=_TEST_SET_IN,
    description="p95 latency of one-row and 1,000-row predictions through mlflow.pyfunc (warns).",
)
def model_inference_latency(
    model: dict[str, Any],
    test_set: pd.DataFrame,
    mlflow_tracking: MlflowResource,
    thresholds: ModelThresholds,
) -> dg.AssetCheckResult:
    loaded = _load_pyfunc(mlflow_tracking, model["model_uri"])
    features = test_set[list(FEATURES)]
    batch = features.sample(n=1000, replace=True, random_state=0)
    measured = {
        "p95_ms_single_row": _p95_ms(loaded.predict, features.head(1), repeats=100),
        "p95_ms_1000_rows": _p95_ms(loaded.predict, batch, repeats=30),
    }
    limits = {
        "p95_ms_single_row": thresholds.max_p95_latency_ms_single_row,
        "p95_ms_1000_rows": thresholds.max_p95_latency_ms_1000_rows,
    }
    return dg.AssetCheckResult(
        passed=all(measured[name] <= limits[name] for name in measured),
        severity=dg.AssetCheckSeverity.WARN,
        metadata={**measured, **{f"limit_{name}": value for name, value in limits.items()}},
    )


BLOCKING_MODEL_CHECKS = (
    model_metrics_within_thresholds,
    model_not_worse_than_champion,
    model_serving_contract,
)
