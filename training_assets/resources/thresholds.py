"""Model validation settings: error thresholds, champion tolerance, latency limits."""

import dagster as dg

from training_assets.settings import setting_field


class ModelThresholds(dg.ConfigurableResource):
    """A model is registered only when it meets these (the latency limits only warn). Each
    field is the setting of the same meaning (`training_assets/settings.py`)."""

    max_rmse: float = setting_field("model_max_rmse")
    max_mae: float = setting_field("model_max_mae")
    champion_tolerance: float = setting_field("model_champion_tolerance")
    comparison_min_rows: int = setting_field("model_comparison_min_rows")
    bootstrap_resamples: int = setting_field("model_bootstrap_resamples")
    confidence_level: float = setting_field("model_confidence_level")
    bootstrap_seed: int = setting_field("model_bootstrap_seed")
    max_p95_latency_ms_single_row: float = setting_field("model_max_p95_ms_single_row")
    max_p95_latency_ms_1000_rows: float = setting_field("model_max_p95_ms_1000_rows")
