"""Saved datasets (`FeatureStore.create_saved_dataset`) with the ASOF store and the stock one.

Both stores read the project's feature repo, applied once (conftest.py). For each
destination (a new `.parquet` file, an existing directory as Feast's own tests pass, a new
directory, an existing path with and without `allow_overwrite`) both stores must do the same:
raise the same error, or leave the same files and read back the same rows through
`get_saved_dataset(name).to_df()`.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

REFS = ["driver_stats:conv_rate", "driver_stats:acc_rate", "driver_stats:avg_daily_trips"]


@pytest.fixture(scope="module")
def stores(applied_repo):
    return applied_repo.stores


def _layout(path: Path) -> str | list[str]:
    if path.is_dir():
        return sorted(
            "<uuid>-0.parquet" if p.name.endswith("-0.parquet") else p.name for p in path.iterdir()
        )
    return "file" if path.is_file() else "missing"


def _save(store, entity_df, path: Path, name: str, allow_overwrite: bool):
    """What create_saved_dataset did: ("saved", files, rows read back) or ("error", type)."""
    from feast.infra.offline_stores.file_source import SavedDatasetFileStorage

    job = store.get_historical_features(entity_df=entity_df, features=REFS)
    try:
        store.create_saved_dataset(
            from_=job,
            name=name,
            storage=SavedDatasetFileStorage(path=str(path)),
            allow_overwrite=allow_overwrite,
        )
    except Exception as error:
        return ("error", type(error).__name__), None
    back = store.get_saved_dataset(name).to_df()
    keys = ["event_timestamp", "driver_id", *[ref.split(":")[1] for ref in REFS]]
    return ("saved", _layout(path)), back[keys].sort_values(keys).reset_index(drop=True)


# (destination, prepare it, allow_overwrite, what both stores do)
CASES = {
    "new file": ("train.parquet", None, False, ("saved", "file")),
    "existing file": (
        "train.parquet",
        "dataset",
        False,
        ("error", "SavedDatasetLocationAlreadyExists"),
    ),
    "existing file, overwrite": ("train.parquet", "dataset", True, ("saved", "file")),
    "existing empty dir, overwrite (Feast's tests)": (
        "train",
        "mkdir",
        True,
        ("saved", ["<uuid>-0.parquet"]),
    ),
    "existing empty dir": ("train", "mkdir", False, ("error", "SavedDatasetLocationAlreadyExists")),
    "new dir": ("train", None, False, ("saved", ["<uuid>-0.parquet"])),
    # The stock writer adds a file next to the old one: both are read back.
    "dir with a dataset, overwrite": (
        "train",
        "dataset",
        True,
        ("saved", ["<uuid>-0.parquet"] * 2),
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_same_saved_dataset_as_stock_duckdb(stores, entity_df, tmp_path, case):
    from training_assets.feast_offline_store.asof_store import AsOfRetrievalJob

    destination, prepare, allow_overwrite, expected = CASES[case]
    assert isinstance(
        stores["ours"].get_historical_features(entity_df=entity_df, features=REFS), AsOfRetrievalJob
    )
    outcomes, frames = {}, {}
    for kind, store in stores.items():
        path = tmp_path / kind / destination
        path.parent.mkdir()
        if prepare == "mkdir":
            path.mkdir()
        elif prepare == "dataset":
            assert _save(store, entity_df, path, f"first_{kind}", False)[0][0] == "saved"
        name = f"{kind}_{case}".replace(" ", "_").replace(",", "").replace("'", "")
        outcomes[kind], frames[kind] = _save(store, entity_df, path, name, allow_overwrite)

    assert outcomes == {"ours": expected, "stock": expected}
    if expected[0] == "saved":
        ours, stock = frames["ours"], frames["stock"]
        pd.testing.assert_frame_equal(ours, stock, check_exact=True)
        copies = 2 if prepare == "dataset" and expected[1] != "file" else 1
        assert len(ours) == copies * len(entity_df)
        # What was saved is the join itself.
        joined = stores["stock"].get_historical_features(entity_df=entity_df, features=REFS)
        joined = joined.to_df()[list(ours.columns)]
        joined = pd.concat([joined] * copies).sort_values(list(ours.columns))
        pd.testing.assert_frame_equal(ours, joined.reset_index(drop=True), check_exact=True)
