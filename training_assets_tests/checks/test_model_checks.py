"""The model checks on real models in a real MLflow store (support/mlflow_models.py): each
check's passing path and its failing path, and what the failure names."""

from __future__ import annotations

import dagster as dg
import numpy as np
import pandas as pd
import pytest
from mlflow.pyfunc import PythonModel
from sklearn.metrics import root_mean_squared_error

from training_assets.checks.model_checks import (
    model_inference_latency,
    model_metrics_within_thresholds,
    model_not_worse_than_champion,
    model_serving_contract,
)
from training_assets.resources.thresholds import ModelThresholds
from training_assets.schema import FEATURES, TARGET
from training_assets_tests.support.mlflow_models import (
    log_elastic_net,
    log_pyfunc,
    mlflow_store,
    register_champion,
    split_frames,
)


def test_metrics_within_thresholds_pass():
    result = model_metrics_within_thresholds({"rmse": 0.15, "mae": 0.2}, ModelThresholds())
    assert result.passed


@pytest.mark.parametrize(
    ("metrics", "failed"),
    [
        ({"rmse": 0.25, "mae": 0.1}, {"rmse"}),
        ({"rmse": 0.1, "mae": 0.3}, {"mae"}),
        ({"rmse": float("nan"), "mae": 0.1}, {"rmse"}),
    ],
)
def test_metrics_over_a_threshold_fail_and_say_which(metrics, failed):
    result = model_metrics_within_thresholds(metrics, ModelThresholds())
    assert not result.passed
    assert set(result.metadata["failed"].value) == failed


def test_thresholds_are_configurable():
    strict = ModelThresholds(max_rmse=0.1, max_mae=0.1)
    assert not model_metrics_within_thresholds({"rmse": 0.15, "mae": 0.05}, strict).passed


# ---- checks that load the logged model --------------------------------------------------


@pytest.fixture
def store(tmp_path):
    return mlflow_store(tmp_path)


@pytest.fixture
def frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    return split_frames()


def context() -> dg.AssetCheckExecutionContext:
    return dg.build_asset_check_context()


def asset_value(logged: dict) -> dict:
    """What the `model` asset returns, without the test's estimator."""
    return {key: value for key, value in logged.items() if key != "estimator"}


def values(result: dg.AssetCheckResult) -> dict:
    return {name: entry.value for name, entry in result.metadata.items()}


def latency(store, frames, limit_ms: float) -> dg.AssetCheckResult:
    train, test = frames
    model = asset_value(log_elastic_net(store, train, alpha=0.01))
    limits = ModelThresholds(
        max_p95_latency_ms_single_row=limit_ms, max_p95_latency_ms_1000_rows=limit_ms
    )
    return model_inference_latency(
        context(), model=model, test_set=test, mlflow_tracking=store, thresholds=limits
    )


def test_latency_under_a_limit_no_machine_reaches_passes(store, frames):
    result = latency(store, frames, limit_ms=1e6)
    assert result.passed
    assert result.severity == dg.AssetCheckSeverity.WARN
    measured = values(result)
    assert measured["limit_p95_ms_single_row"] == measured["limit_p95_ms_1000_rows"] == 1e6
    assert 0 < measured["p95_ms_single_row"] < 1e6 and 0 < measured["p95_ms_1000_rows"] < 1e6


def test_latency_over_a_limit_no_prediction_meets_warns_with_figures_and_limits(store, frames):
    result = latency(store, frames, limit_ms=1e-9)
    assert not result.passed
    assert result.severity == dg.AssetCheckSeverity.WARN  # warns, never blocks
    measured = values(result)
    assert measured["limit_p95_ms_single_row"] == measured["limit_p95_ms_1000_rows"] == 1e-9
    assert measured["p95_ms_single_row"] > 1e-9 and measured["p95_ms_1000_rows"] > 1e-9


def contract(store, model: dict, test: pd.DataFrame) -> dg.AssetCheckResult:
    return model_serving_contract(context(), model=model, test_set=test, mlflow_tracking=store)


def test_the_logged_elastic_net_meets_the_serving_contract(store, frames):
    train, test = frames
    result = contract(store, asset_value(log_elastic_net(store, train, alpha=0.01)), test)
    assert result.passed, values(result)["problems"]
    found = values(result)
    assert found["input_schema"] == ", ".join(FEATURES)
    assert found["prediction_dtype"] == "float64"
    assert "conv_rate" in found["missing_column_error"]
    assert found["problems"] == []


class OneFloatPerRow(PythonModel):
    def predict(self, context, model_input, params=None):
        return np.full(len(model_input), 0.5)


class Strings(PythonModel):
    def predict(self, context, model_input, params=None):
        return np.array(["completed"] * len(model_input))


def test_a_model_whose_schema_lacks_a_feature_fails_naming_it(store, frames):
    _, test = frames
    without = [name for name in FEATURES if name != "conv_rate"]
    model = log_pyfunc(store, OneFloatPerRow(), test[without])
    result = contract(store, model, test)
    assert not result.passed
    assert values(result)["problems"] == [
        f"input schema is {without}, expected {list(FEATURES)}",
        "a frame without 'conv_rate' was accepted",
    ]
    assert values(result)["missing_column_error"] == "none"


def test_a_model_that_returns_strings_fails_naming_the_dtype(store, frames):
    _, test = frames
    result = contract(store, log_pyfunc(store, Strings(), test[list(FEATURES)]), test)
    assert not result.passed
    dtype = values(result)["prediction_dtype"]
    assert dtype.startswith("<U")
    assert values(result)["problems"] == [
        f"predict gave {dtype} ({len(test)},), not a float per row"
    ]


def champion_check(store, test: pd.DataFrame, rmse: float, tolerance: float = 0.005):
    return model_not_worse_than_champion(
        context(),
        model_metrics={"rmse": rmse, "mae": rmse},
        test_set=test,
        mlflow_tracking=store,
        thresholds=ModelThresholds(champion_tolerance=tolerance),
    )


def rmse_of(logged: dict, test: pd.DataFrame) -> float:
    predictions = logged["estimator"].predict(test[list(FEATURES)])
    return float(root_mean_squared_error(test[TARGET], predictions))


def test_without_a_champion_the_challenger_passes_and_the_check_says_so(store, frames):
    _, test = frames
    result = champion_check(store, test, rmse=0.3)
    assert result.passed
    assert values(result) == {
        "champion": "no sklearn-elastic-net-reg@champion yet: nothing to compare with"
    }


def test_a_challenger_worse_than_the_champion_fails_with_both_rmses(store, frames):
    train, test = frames
    champion = log_elastic_net(store, train, alpha=0.001)
    assert register_champion(store, asset_value(champion)) == "1"
    # A huge alpha shrinks every coefficient to zero: the model predicts the mean.
    challenger_rmse = rmse_of(log_elastic_net(store, train, alpha=100), test)
    champion_rmse = rmse_of(champion, test)
    assert challenger_rmse > champion_rmse + 0.05  # clearly worse, on the same test set

    result = champion_check(store, test, rmse=challenger_rmse)
    assert not result.passed
    found = values(result)
    assert found["champion"] == "sklearn-elastic-net-reg version 1"
    assert found["champion_rmse"] == pytest.approx(champion_rmse)
    assert found["challenger_rmse"] == challenger_rmse
    assert found["rmse_difference"] == pytest.approx(challenger_rmse - champion_rmse)
    assert found["tolerance"] == 0.005


def test_a_challenger_as_good_as_the_champion_passes(store, frames):
    train, test = frames
    champion = log_elastic_net(store, train, alpha=0.001)
    register_champion(store, asset_value(champion))
    result = champion_check(store, test, rmse=rmse_of(champion, test))
    assert result.passed
    assert values(result)["rmse_difference"] == pytest.approx(0, abs=1e-12)
