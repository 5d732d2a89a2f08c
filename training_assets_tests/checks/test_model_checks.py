"""The model checks on real models in a real MLflow store (support/mlflow_models.py): each
check's passing path and its failing path, and what the failure names."""

from __future__ import annotations

from pathlib import Path

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
from training_assets.io_managers.files import StoredVersion
from training_assets.resources.thresholds import ModelThresholds
from training_assets.schema import FEATURES, TARGET
from training_assets_tests.support.mlflow_models import (
    log_elastic_net,
    log_pyfunc,
    mlflow_store,
    register_champion,
    split_frames,
    stored_frame,
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


def champion_check(
    store,
    challenger: dict,
    test: pd.DataFrame,
    challenger_train: Path,
    tolerance: float = 0.0,
    min_rows: int = 20,
) -> dg.AssetCheckResult:
    metrics = {"rmse": rmse_of(challenger, test), "mae": 0.0}
    return model_not_worse_than_champion(
        context(),
        model_metrics=metrics,
        model=asset_value(challenger),
        test_set=test,
        train_set=StoredVersion("train_set", "run", str(challenger_train)),
        mlflow_tracking=store,
        thresholds=ModelThresholds(champion_tolerance=tolerance, comparison_min_rows=min_rows),
    )


def rmse_of(logged: dict, test: pd.DataFrame) -> float:
    predictions = logged["estimator"].predict(test[list(FEATURES)])
    return float(root_mean_squared_error(test[TARGET], predictions))


@pytest.fixture
def champion_and_train(store, frames, tmp_path):
    """A registered champion fitted on the training rows, with its stored train set."""
    train, _ = frames
    path = stored_frame(train, tmp_path / "champion_train.parquet")
    champion = log_elastic_net(store, train, alpha=0.001)
    assert register_champion(store, asset_value(champion), path) == "1"
    return champion, path


def test_without_a_champion_the_challenger_passes_and_the_check_says_so(store, frames, tmp_path):
    train, test = frames
    challenger = log_elastic_net(store, train, alpha=0.01)
    result = champion_check(store, challenger, test, stored_frame(train, tmp_path / "t.parquet"))
    assert result.passed
    assert values(result) == {
        "summary": "no sklearn-elastic-net-reg@champion yet: nothing to compare with",
        "champion": "none",
    }


def test_a_clearly_worse_challenger_fails_with_the_interval(store, frames, champion_and_train):
    train, test = frames
    champion, path = champion_and_train
    # A huge alpha shrinks every coefficient to zero: the model predicts the mean.
    challenger = log_elastic_net(store, train, alpha=100)
    result = champion_check(store, challenger, test, path)
    assert not result.passed
    found = values(result)
    low, high = found["rmse_difference_interval"]
    assert 0 < low <= found["rmse_difference"] <= high
    assert found["champion_rmse"] == pytest.approx(rmse_of(champion, test))
    assert found["challenger_rmse"] == pytest.approx(rmse_of(challenger, test))
    assert found["rows_compared"] == len(test) and found["rows_excluded"] == 0
    assert f"95% interval [{low:+.4f}, {high:+.4f}]" in found["summary"]
    assert "not shown to be no worse" in found["summary"]


def test_the_champion_itself_as_challenger_passes(store, frames, champion_and_train):
    _, test = frames
    champion, path = champion_and_train
    result = champion_check(store, champion, test, path)
    assert result.passed, values(result)["summary"]
    found = values(result)
    assert found["rmse_difference"] == 0 and found["rmse_difference_interval"] == [0, 0]
    assert "not worse, with 95% confidence" in found["summary"]


def test_a_challenger_slightly_worse_within_noise_passes_within_the_tolerance(
    store, frames, champion_and_train
):
    """The rule: pass when the interval's upper bound is at most the tolerance. A challenger a
    little worse (its interval straddles 0) passes with a tolerance above the upper bound and
    fails with the default 0, which asks for "not worse" with 95% confidence."""
    train, test = frames
    _, path = champion_and_train
    challenger = log_elastic_net(store, train, alpha=0.02)
    strict = champion_check(store, challenger, test, path)
    low, high = values(strict)["rmse_difference_interval"]
    assert 0 < values(strict)["rmse_difference"] < 0.01 and low < 0 < high  # within the noise
    assert not strict.passed
    assert champion_check(store, challenger, test, path, tolerance=0.02).passed


def test_rows_the_champion_was_trained_on_are_not_compared(store, tmp_path):
    """The champion was trained on rows whose labels go against the rest of the data; the
    challenger's test set holds 400 of them and 250 fresh rows. On the whole test set the
    champion looks better (it is scored on its own training rows); on the fresh rows the
    challenger is far better. The check compares on the fresh rows only."""
    champion_rows, _ = split_frames(rows=500, seed=1)
    champion_rows[TARGET] = 1 - champion_rows[TARGET]  # what only the champion learned
    fresh_train, fresh_test = split_frames(rows=1250, seed=2)
    champion_path = stored_frame(champion_rows, tmp_path / "champion_train.parquet")
    champion = log_elastic_net(store, champion_rows, alpha=0.001)
    register_champion(store, asset_value(champion), champion_path)
    challenger = log_elastic_net(store, fresh_train, alpha=0.001)
    test = pd.concat([champion_rows.iloc[:400], fresh_test], ignore_index=True)
    assert rmse_of(champion, test) < rmse_of(challenger, test)  # flattered on the whole set

    challenger_path = stored_frame(fresh_train, tmp_path / "challenger_train.parquet")
    result = champion_check(store, challenger, test, challenger_path, min_rows=200)
    found = values(result)
    assert result.passed, found["summary"]
    assert found["rows_excluded"] == 400 and found["rows_compared"] == len(fresh_test)
    assert found["rmse_difference_interval"][1] < 0


def test_too_few_rows_left_to_compare_fail_and_say_so(store, frames, champion_and_train):
    _, test = frames
    champion, path = champion_and_train
    result = champion_check(store, champion, test, path, min_rows=len(test) + 1)
    assert not result.passed
    found = values(result)
    assert found["rows_compared"] == len(test)
    assert found["summary"] == (
        f"only {len(test)} of {len(test)} test rows were trained on by neither model (0 "
        f"excluded): at least {len(test) + 1} are needed to compare them "
        "(MODEL_COMPARISON_MIN_ROWS)"
    )


def test_without_the_champions_train_set_the_check_falls_back_and_warns(
    store, frames, champion_and_train, caplog
):
    train, test = frames
    _, path = champion_and_train
    path.unlink()  # garbage-collected
    challenger = log_elastic_net(store, train, alpha=100)
    result = champion_check(store, challenger, test, path, tolerance=0.005)
    found = values(result)
    assert not result.passed  # the old rule still judges: clearly worse
    assert found["fallback"] == f"its train set {path} is gone (make gc, or moved storage)"
    assert found["summary"].startswith(f"no fair comparison: its train set {path} is gone")
    assert found["tolerance"] == 0.005
    assert "no fair comparison" in caplog.text
