"""Model validation as asset checks: thresholds, champion/challenger, contract, latency.

The blocking ones stand between a trained model and the registry: when any fails, nothing is
registered and the champion alias stays where it is.
"""

import json
import time
from pathlib import Path
from typing import Any

import dagster as dg
import numpy as np
import pandas as pd

from training_assets.domain.comparison import compare, decision, without_trained_rows
from training_assets.domain.mlflow_logging import load_pyfunc
from training_assets.domain.registry import CHAMPION_ALIAS
from training_assets.io_managers.files import StoredVersion, parquet_source
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
    summary = "; ".join(f"{name}: {problem}" for name, problem in failed.items()) or ", ".join(
        f"{name} {model_metrics[name]:.4f} <= {limit}" for name, limit in limits.items()
    )
    return dg.AssetCheckResult(
        passed=not failed,
        metadata={
            "summary": summary,
            **{name: model_metrics[name] for name in limits},
            **{f"max_{name}": limit for name, limit in limits.items()},
            "failed": dg.MetadataValue.json(failed),
        },
    )


@dg.asset_check(
    asset="model_metrics",
    compute_kind="mlflow",
    blocking=True,
    additional_ins={
        "test_set": dg.AssetIn("test_set"),
        "model": dg.AssetIn("model"),
        # Only the reference: the rows' identities are read from the file.
        "train_set": dg.AssetIn("train_set", metadata={"load": "reference"}),
    },
    description=(
        "Champion and challenger scored on the same test rows, none of which either model was "
        "trained on (the champion's stored train set, by its lineage); a paired bootstrap "
        "interval for challenger RMSE - champion RMSE; passes when its upper bound is at most "
        "MODEL_CHAMPION_TOLERANCE (0: not worse, with 95% confidence). Too few rows fails. "
        "Passes when there is no champion yet."
    ),
)
def model_not_worse_than_champion(
    context: dg.AssetCheckExecutionContext,
    model_metrics: dict[str, float],
    model: dict[str, Any],
    test_set: pd.DataFrame,
    train_set: StoredVersion,
    mlflow_tracking: MlflowResource,
    thresholds: ModelThresholds,
) -> dg.AssetCheckResult:
    name = mlflow_tracking.registered_model_name
    # Only "no such model or alias" means no champion: an unreachable server is retried,
    # then fails the check's step.
    with mlflow_tracking.outage_retries(context):
        champion = version_by_alias(mlflow_tracking.client(), name, CHAMPION_ALIAS)
        if champion is None:
            return dg.AssetCheckResult(
                passed=True,
                metadata={
                    "summary": f"no {name}@{CHAMPION_ALIAS} yet: nothing to compare with",
                    "champion": "none",
                },
            )
        champion_model = _load_pyfunc(mlflow_tracking, f"models:/{name}/{champion.version}")
        challenger_model = _load_pyfunc(mlflow_tracking, model["model_uri"])
    label = f"{name} version {champion.version}"
    champion_train, missing = _champion_train_set(champion)
    if champion_train is None:
        return _point_estimate_fallback(
            label, missing, champion_model, model_metrics, test_set, thresholds
        )
    rows, excluded = without_trained_rows(test_set, champion_train, parquet_source(train_set.path))
    base = {
        "champion": label,
        "test_rows": len(test_set),
        "rows_excluded": excluded,
        "rows_compared": len(rows),
        "min_rows": thresholds.comparison_min_rows,
    }
    if len(rows) < thresholds.comparison_min_rows:
        summary = (
            f"only {len(rows):,} of {len(test_set):,} test rows were trained on by neither "
            f"model ({excluded:,} excluded): at least {thresholds.comparison_min_rows} are "
            "needed to compare them (MODEL_COMPARISON_MIN_ROWS)"
        )
        _log_failure("model_not_worse_than_champion", "model_metrics", [summary])
        return dg.AssetCheckResult(passed=False, metadata={"summary": summary, **base})
    features = rows[list(FEATURES)]
    result = compare(
        rows[TARGET].to_numpy(),
        np.asarray(champion_model.predict(features)),
        np.asarray(challenger_model.predict(features)),
        resamples=thresholds.bootstrap_resamples,
        confidence=thresholds.confidence_level,
        seed=thresholds.bootstrap_seed,
    )
    passed, summary = decision(result, thresholds.champion_tolerance, excluded)
    if not passed:
        _log_failure("model_not_worse_than_champion", "model_metrics", [summary])
    rmse, mae = result.rmse_difference, result.mae_difference
    return dg.AssetCheckResult(
        passed=passed,
        metadata={
            "summary": summary,
            **base,
            "champion_rmse": result.champion_rmse,
            "challenger_rmse": result.challenger_rmse,
            "rmse_difference": rmse.point,
            "rmse_difference_interval": dg.MetadataValue.json([rmse.low, rmse.high]),
            "champion_mae": result.champion_mae,
            "challenger_mae": result.challenger_mae,
            "mae_difference": mae.point,
            "mae_difference_interval": dg.MetadataValue.json([mae.low, mae.high]),
            "confidence_level": result.confidence,
            "bootstrap_resamples": result.resamples,
            "tolerance": thresholds.champion_tolerance,
        },
    )


def _champion_train_set(champion) -> tuple[str | None, str]:
    """The stored train set the champion was trained on, from its lineage tag; or None and
    what is missing (a version from before lineage, or a file garbage-collected)."""
    tag = (champion.tags or {}).get("data.train_set")
    path = json.loads(tag).get("path") if tag else None
    if not path:
        return None, f"version {champion.version} has no data.train_set tag"
    if not Path(path).exists():
        return None, f"its train set {path} is gone (make gc, or moved storage)"
    # A file, or a glob over a Parquet dataset's part files (the Spark profile's).
    return parquet_source(path), ""


def _point_estimate_fallback(
    label: str,
    missing: str,
    champion_model: Any,
    model_metrics: dict[str, float],
    test_set: pd.DataFrame,
    thresholds: ModelThresholds,
) -> dg.AssetCheckResult:
    """Without the champion's train set there is no fair comparison set: the old rule (both
    RMSEs on the whole test set, plus the tolerance), with a warning that says so."""
    from sklearn.metrics import root_mean_squared_error

    predictions = champion_model.predict(test_set[list(FEATURES)])
    champion_rmse = float(root_mean_squared_error(test_set[TARGET], predictions))
    limit = champion_rmse + thresholds.champion_tolerance
    passed = model_metrics["rmse"] <= limit
    summary = (
        f"no fair comparison: {missing}. Fell back to the whole test set, which may hold rows "
        f"the champion was trained on: rmse {model_metrics['rmse']:.4f} "
        f"{'<=' if passed else '>'} {limit:.4f} (the champion's {champion_rmse:.4f} plus the "
        f"tolerance {thresholds.champion_tolerance})"
    )
    dg.get_dagster_logger().warning(f"Model check model_not_worse_than_champion: {summary}")
    if not passed:
        _log_failure("model_not_worse_than_champion", "model_metrics", [summary])
    return dg.AssetCheckResult(
        passed=passed,
        metadata={
            "summary": summary,
            "fallback": missing,
            "champion": label,
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
            "summary": "; ".join(problems)
            or f"loads through mlflow.pyfunc, takes {', '.join(schema_columns)}, one float per row",
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
