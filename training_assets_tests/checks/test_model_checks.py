import pytest

from training_assets.checks.model_checks import model_metrics_within_thresholds
from training_assets.resources.thresholds import ModelThresholds


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
