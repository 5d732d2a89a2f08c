"""Remove old stored asset versions, keeping what the registry needs.

    python -m training_assets.gc [--keep N] [--dry-run]      # make gc

Keeps, per asset, the newest N versions (TRAINING_KEEP_VERSIONS, default 5) and the latest,
plus every version that a registered model version was trained or tested on (its
`data.training_frame`, `data.train_set` and `data.test_set` tags), so `make reproduce` keeps
working for every registered version. Says what it removed and how much space that freed.
When the registry cannot be read it removes nothing.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from training_assets.io_managers.files import LATEST, stored_versions
from training_assets.settings import SettingError, SparkSettings, StorageSettings

DATA_TAGS = ("data.training_frame", "data.train_set", "data.test_set")


def referenced_paths(client, name: str) -> set[Path]:
    """Every stored file a registered version of `name` names in its data tags."""
    from training_assets.resources.mlflow_tracking import is_not_found

    try:
        versions = client.search_model_versions(f"name = '{name}'")
    except Exception as error:
        if is_not_found(error):
            return set()
        raise
    paths = set()
    for version in versions:
        for tag in DATA_TAGS:
            value = (version.tags or {}).get(tag)
            if value and json.loads(value).get("path"):
                paths.add(Path(json.loads(value)["path"]).resolve())
    return paths


def plan(storage_dir: Path, keep: int, referenced: set[Path]) -> list[Path]:
    """The version files to remove."""
    removable = []
    if not storage_dir.is_dir():
        return removable
    for latest in storage_dir.rglob(LATEST):
        directory = latest.parent
        asset = directory.relative_to(storage_dir).as_posix()
        versions = stored_versions(storage_dir, asset)
        kept = set(versions[-keep:]) | {directory / latest.read_text().strip()}
        removable += [p for p in versions if p not in kept and p.resolve() not in referenced]
    return removable


def _size(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=int, help="newest versions kept per asset")
    parser.add_argument("--dry-run", action="store_true", help="only say what would go")
    args = parser.parse_args(argv)
    try:
        storage = StorageSettings()
        from training_assets.resources.build import build_resources

        tracking = build_resources()["mlflow_tracking"]
    except SettingError as error:
        print(error, file=sys.stderr)
        return 2
    keep = args.keep or storage.training_keep_versions
    if keep < 1:
        print("--keep must be at least 1", file=sys.stderr)
        return 2
    try:
        referenced = referenced_paths(tracking.client(), tracking.registered_model_name)
    except Exception as error:  # an unreadable registry: never guess what it references
        print(f"Cannot read the model registry ({error}); nothing removed.", file=sys.stderr)
        return 1
    removable = [
        path
        # The Spark profile's frames may live in their own shared directory.
        for base in dict.fromkeys([storage.storage_dir, SparkSettings().shared_dir(storage)])
        for path in plan(base, keep, referenced)
    ]
    freed = 0
    for path in removable:
        size = _size(path)
        freed += size
        if not args.dry_run:
            # A Parquet dataset version (Spark's) is a directory of part files.
            shutil.rmtree(path) if path.is_dir() else path.unlink()
        print(f"{'would remove' if args.dry_run else 'removed'} {path} ({size:,} bytes)")
    verb = "would free" if args.dry_run else "freed"
    print(
        f"{len(removable)} version file(s), {verb} {freed / 1e6:.1f} MB; kept the newest {keep} "
        f"per asset and {len(referenced)} file(s) registered versions were trained or tested on."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
