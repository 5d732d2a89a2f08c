"""IO managers that keep each asset's value in one file under a base directory.

Frames go to Parquet, small values (metrics, model references, registry versions) to JSON.
The file is named after the asset key, so `defs.load_asset_value(...)` finds it again.
"""

from __future__ import annotations

import json
from collections import OrderedDict
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
        # What `DataFrame.to_parquet(index=False)` stores; Arrow tables are written as they are.
        table = (
            obj if isinstance(obj, pa.Table) else pa.Table.from_pandas(obj, preserve_index=False)
        )
        atomic_write(path, lambda tmp: _write_parquet(table, tmp))
        context.add_output_metadata(
            {"path": dg.MetadataValue.path(str(path)), "stored_bytes": path.stat().st_size}
        )

    def load_input(self, context: dg.InputContext) -> pd.DataFrame | pa.Table:
        table = _read_table(self._input_path(context))
        # A new DataFrame per input: no step sees another's changes.
        return table if _wants_arrow(context) else table.to_pandas()


# The last few tables read, by path, size and modification time: one run reads the training
# frame for a dozen steps and checks. Arrow tables are immutable, so sharing them is safe.
_READ_CACHE: OrderedDict[tuple[str, int, int], pa.Table] = OrderedDict()
_READ_CACHE_SIZE = 3


def _read_table(path: Path) -> pa.Table:
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key in _READ_CACHE:
        _READ_CACHE.move_to_end(key)
        return _READ_CACHE[key]
    table = pq.read_table(path)
    _READ_CACHE[key] = table
    while len(_READ_CACHE) > _READ_CACHE_SIZE:
        _READ_CACHE.popitem(last=False)
    return table


def _wants_arrow(context: dg.InputContext) -> bool:
    try:
        return context.dagster_type.typing_type is pa.Table
    except dg.DagsterInvariantViolationError:  # a context built without a type
        return False


def _write_parquet(table: pa.Table, path: Path) -> None:
    """Parquet with dictionary encoding tried only where it tends to pay: not on floats and
    timestamps, which are nearly all distinct (trying it there doubled the write time of the
    training frame and saved nothing). The values and types stored are the same either way."""
    dictionary = [
        field.name
        for field in table.schema
        if not (pa.types.is_floating(field.type) or pa.types.is_timestamp(field.type))
    ]
    pq.write_table(table, path, use_dictionary=dictionary)


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
