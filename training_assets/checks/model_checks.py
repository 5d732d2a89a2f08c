"""Model validation as asset checks: thresholds, champion/challenger, contract, latency.

The blocking ones stand between a trained model and the registry: when any fails, nothing is
registered and the champion alias stays where it is.
"""

import time
from typing import Any

import dagster as dg
import numpy as np
import pandas as pd

from training_assets.domain.mlflow_logging import load_pyfunc
from training_assets.domain.registry import CHAMPION_ALIAS
from training_assets.resources.mlflow_tracking import MlflowResource, version_by_alias
from training_assets.resources.thresholds import ModelThresholds
from training_assets.schema import FEATURES, TARGET

_TEST_SET_IN = {"test_set": dg.AssetIn("test_set")}


def _load_pyfunc(mlflow_tracking: MlflowResource, model_uri: str):
    return load_pyfunc(mlflow_tracking.tracking_uri, model_uri)


def _log_failure(check: str, asset: str, problems: list[str] | dict[str, str]) -> None:
    """One line per problem in the run log, so the CLI output names figure and limit (the
    metadata holds them too, for the UI)."""
    lines = [f"{k}: {v}" for k, v in problems.items()] if isinstance(problems, dict) else problems
    dg.get_dagster_logger().error(
        f"Model check {check} on {asset} failed:\n  - " + "\n  - ".join(lines)
    )


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
        name: f"{model_metrics[name]:.4f} > {limit} (MODEL_MAX_{name.upper()})"
        for name, limit in limits.items()
        if not model_metrics[name] <= limit
    }
    if failed:
        _log_failure("model_metrics_within_thresholds", "model_metrics", failed)
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
    context: dg.AssetCheckExecutionContext,
    model_metrics: dict[str, float],
    test_set: pd.DataFrame,
    mlflow_tracking: MlflowResource,
    thresholds: ModelThresholds,
) -> dg.AssetCheckResult:
    from sklearn.metrics import root_mean_squared_error

    name = mlflow_tracking.registered_model_name
    # Only "no such model or alias" means no champion: an unreachable server is retried,
    # then fails the check's step.
    with mlflow_tracking.outage_retries(context):
        champion = version_by_alias(mlflow_tracking.client(), name, CHAMPION_ALIAS)
        loaded = (
            None
            if champion is None
            else _load_pyfunc(mlflow_tracking, f"models:/{name}/{champion.version}")
        )
    if champion is None:
        return dg.AssetCheckResult(
            passed=True,
            metadata={"champion": f"no {name}@{CHAMPION_ALIAS} yet: nothing to compare with"},
        )
    predictions = loaded.predict(test_set[list(FEATURES)])
    champion_rmse = float(root_mean_squared_error(test_set[TARGET], predictions))
    limit = champion_rmse + thresholds.champion_tolerance
    passed = model_metrics["rmse"] <= limit
    summary = (
        f"rmse {model_metrics['rmse']:.4f} {'<=' if passed else '>'} {limit:.4f}: the champion "
        f"({name} version {champion.version}) scores {champion_rmse:.4f} on this test set, "
        f"plus the tolerance {thresholds.champion_tolerance} (MODEL_CHAMPION_TOLERANCE)"
    )
    if not passed:
        _log_failure("model_not_worse_than_champion", "model_metrics", [summary])
    return dg.AssetCheckResult(
        passed=passed,
        metadata={
            "summary": summary,
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
    context: dg.AssetCheckExecutionContext,
    model: dict[str, Any],
    test_set: pd.DataFrame,
    mlflow_tracking: MlflowResource,
) -> dg.AssetCheckResult:
    from mlflow.exceptions import MlflowException

    with mlflow_tracking.outage_retries(context):
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
    if problems:
        _log_failure("model_serving_contract", "model", problems)
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
    context: dg.AssetCheckExecutionContext,
    model: dict[str, Any],
    test_set: pd.DataFrame,
    mlflow_tracking: MlflowResource,
    thresholds: ModelThresholds,
) -> dg.AssetCheckResult:
    with mlflow_tracking.outage_retries(context):
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
    slow = {
        name: f"{measured[name]:.1f} ms > {limits[name]} ms"
        for name in measured
        if not measured[name] <= limits[name]
    }
    return dg.AssetCheckResult(
        passed=not slow,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            **measured,
            **{f"limit_{name}": value for name, value in limits.items()},
            "summary": "; ".join(f"{k}: {v}" for k, v in slow.items()) or "within the limits",
        },
    )
