"""Find and load any stored version of an asset, by run id or by data version.

    from training_assets.versions import list_versions, load_version
    list_versions("training_frame")                       # oldest first: run, content hash
    load_version("training_frame", run_id="7847adbd-...")
    load_version("train_set", data_version="d190fac6db498c04")

`defs.load_asset_value(key)` returns the latest version; these read the same storage
(TRAINING_STORAGE_DIR). A data version is the content hash each version records (the
`content_hash` in its materialization's metadata, the `dagster/data_version` of
`training_frame`, the `data.*` tags of a registered model version).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from training_assets.io_managers.files import (
    StoredVersion,
    VersionNotFoundError,
    stored_version,
    stored_versions,
)
from training_assets.settings import StorageSettings


def list_versions(asset: str, base_dir: str | Path | None = None) -> list[StoredVersion]:
    base = Path(base_dir) if base_dir else StorageSettings().storage_dir
    return [stored_version(asset, path) for path in stored_versions(base, asset)]


def find_version(
    asset: str,
    *,
    run_id: str | None = None,
    data_version: str | None = None,
    base_dir: str | Path | None = None,
) -> StoredVersion:
    if (run_id is None) == (data_version is None):
        raise ValueError("Give exactly one of run_id and data_version.")
    for version in list_versions(asset, base_dir):
        if version.run_id == run_id or (data_version and version.content_hash == data_version):
            return version
    wanted = f"run {run_id}" if run_id else f"data version {data_version}"
    raise VersionNotFoundError(
        f"No stored version of {asset!r} with {wanted} (removed by `make gc`, or never stored)."
    )


def load_version(
    asset: str,
    *,
    run_id: str | None = None,
    data_version: str | None = None,
    base_dir: str | Path | None = None,
) -> Any:
    """The value of that version: a DataFrame for Parquet, the parsed JSON otherwise."""
    path = Path(
        find_version(asset, run_id=run_id, data_version=data_version, base_dir=base_dir).path
    )
    if path.suffix == ".parquet":
        import pandas as pd

        return pd.read_parquet(path)
    return json.loads(path.read_text())
