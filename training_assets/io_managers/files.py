"""IO managers that keep each asset's value in one file under a base directory.

Frames go to Parquet, small values (metrics, model references, registry versions) to JSON.
The file is named after the asset key, so `defs.load_asset_value(...)` finds it again.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from training_assets.io_managers.atomic import atomic_write


class _FileIOManager(dg.ConfigurableIOManager):
    base_dir: str
    extension: str = ""

    def path_for(self, key: dg.AssetKey) -> Path:
        return Path(self.base_dir, *key.path).with_suffix(self.extension)

    def _output_path(self, context: dg.OutputContext) -> Path:
        return self.path_for(context.asset_key)

    def _input_path(self, context: dg.InputContext) -> Path:
        path = self.path_for(context.asset_key)
        if not path.is_file():
            raise FileNotFoundError(
                f"No stored value for asset {context.asset_key.to_user_string()!r} at {path}: "
                "materialize it first."
            )
        return path


class ParquetIOManager(_FileIOManager):
    """pandas DataFrames or Arrow tables as Parquet files, read back as pandas DataFrames
    (or as an Arrow table for an input annotated `pa.Table`)."""

    extension: str = ".parquet"

    def handle_output(self, context: dg.OutputContext, obj: pd.DataFrame | pa.Table) -> None:
        path = self._output_path(context)
        if isinstance(obj, pa.Table):
            # Straight from Arrow: no pandas copy of a large frame.
            atomic_write(path, lambda tmp: pq.write_table(obj, tmp))
        else:
            atomic_write(path, lambda tmp: obj.to_parquet(tmp, index=False))
        context.add_output_metadata(
            {"path": dg.MetadataValue.path(str(path)), "stored_bytes": path.stat().st_size}
        )

    def load_input(self, context: dg.InputContext) -> pd.DataFrame | pa.Table:
        table = pq.read_table(self._input_path(context))
        if context.dagster_type.typing_type is pa.Table:
            return table
        return table.to_pandas()


class JsonIOManager(_FileIOManager):
    """JSON-serialisable values (dicts of numbers and strings) as JSON files."""

    extension: str = ".json"

    def handle_output(self, context: dg.OutputContext, obj: Any) -> None:
        path = self._output_path(context)
        text = json.dumps(obj, indent=2, sort_keys=True)
        atomic_write(path, lambda tmp: tmp.write_text(text + "\n"))
        context.add_output_metadata({"path": dg.MetadataValue.path(str(path))})

    def load_input(self, context: dg.InputContext) -> Any:
        return json.loads(self._input_path(context).read_text())
