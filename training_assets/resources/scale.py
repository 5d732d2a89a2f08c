"""Where the pipeline stops holding data in pandas (the `Large data` settings)."""

import dagster as dg

from training_assets.settings import setting_field


class ScaleResource(dg.ConfigurableResource):
    """Sets bigger than `out_of_core_rows` are processed where they lie (docs/performance.md)."""

    out_of_core_rows: int = setting_field("training_out_of_core_rows")
    duckdb_memory_limit: str = setting_field("training_duckdb_memory_limit")
