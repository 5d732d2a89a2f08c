"""Model validation settings: error thresholds, champion tolerance, latency limits."""

import dagster as dg
from pydantic import Field


class ModelThresholds(dg.ConfigurableResource):
    """A model is registered only when it meets these (the latency limits only warn)."""

    max_rmse: float = Field(default=0.2, gt=0, description="Largest acceptable test RMSE.")
    max_mae: float = Field(default=0.2, gt=0, description="Largest acceptable test MAE.")
    champion_tolerance: float = Field(
        default=0.01,
        ge=0,
        description="How much higher the new model's test RMSE may be than the champion's.",
    )
    max_p95_latency_ms_single_row: float = Field(
        default=50.0, gt=0, description="p95 latency limit of a one-row prediction."
    )
    max_p95_latency_ms_1000_rows: float = Field(
        default=200.0, gt=0, description="p95 latency limit of a 1,000-row prediction."
    )
