"""The data checks' thresholds and where they keep their full results."""

from pathlib import Path

import dagster as dg
from pydantic import Field

from training_assets.settings import setting_field


class DataValidationResource(dg.ConfigurableResource):
    """Thresholds the data checks use; each field is the setting of the same meaning
    (`training_assets/settings.py`: default, bounds, description)."""

    result_dir: str = Field(
        description=(
            "Directory for the full Great Expectations result of each check "
            "(<result_dir>/<asset>/<check>.json)."
        )
    )
    min_rows: int = setting_field("data_min_rows")
    drift_max_psi: float = setting_field("data_drift_max_psi")
    drift_bins: int = setting_field("data_drift_bins")
    max_examples: int = setting_field("data_validation_examples")
    out_of_core_rows: int = setting_field("training_out_of_core_rows")
    duckdb_memory_limit: str = setting_field("training_duckdb_memory_limit")

    cache_dir: str | None = Field(
        default=None,
        description=(
            "Directory for what checks derive from their inputs' sources and reuse while the "
            "source is unchanged (the leakage proof's source index); none: recomputed each time."
        ),
    )

    def cache_path(self, name: str) -> Path | None:
        return Path(self.cache_dir, name) if self.cache_dir else None

    def result_path(self, asset: str, check: str) -> Path:
        return Path(self.result_dir, asset, f"{check}.json")
