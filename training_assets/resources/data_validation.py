"""Settings of the data validation: where results go, minimum volume, drift thresholds."""

from pathlib import Path

import dagster as dg
from pydantic import Field


class DataValidationSettings(dg.ConfigurableResource):
    """Thresholds the data checks use, and where they keep their results and drift baseline.

    Read from environment variables by `build_resources()` (README, "Data validation").
    """

    result_dir: str = Field(
        description=(
            "Directory for the full Great Expectations result of each check "
            "(<result_dir>/<asset>/<check>.json) and the drift baseline."
        )
    )
    min_rows: int = Field(
        default=100, ge=1, description="Fewest rows training_frame may have (volume check)."
    )
    drift_max_psi: float = Field(
        default=0.2,
        gt=0,
        description=(
            "Population stability index above which a feature counts as drifted "
            "(rule of thumb: < 0.1 stable, 0.1-0.25 moderate shift, > 0.25 major shift)."
        ),
    )
    drift_bins: int = Field(
        default=10, ge=2, le=100, description="Quantile bins of the drift baseline per feature."
    )
    max_examples: int = Field(
        default=5, ge=1, le=100, description="Offending values shown per failed expectation."
    )

    def result_path(self, asset: str, check: str) -> Path:
        return Path(self.result_dir, asset, f"{check}.json")

    def drift_baseline_path(self, asset: str) -> Path:
        return Path(self.result_dir, asset, "drift_baseline.json")
