"""Blocking model validation: the test-set metrics must be within the thresholds."""

import dagster as dg

from training_assets.resources.thresholds import ModelThresholds


@dg.asset_check(
    asset="model_metrics",
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
