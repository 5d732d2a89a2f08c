"""Model validation thresholds, settable by environment variable or run config."""

import dagster as dg
from pydantic import Field


class ModelThresholds(dg.ConfigurableResource):
    """A model is registered only when its test-set errors are at most these."""

    max_rmse: float = Field(default=0.2, gt=0, description="Largest acceptable RMSE.")
    max_mae: float = Field(default=0.2, gt=0, description="Largest acceptable MAE.")
