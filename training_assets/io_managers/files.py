"""Versioned, immutable storage of asset values: one file per materialization, never overwritten.

Every materialization is written to `<base_dir>/<asset>/<run id>.<ext>` (Parquet for frames,
JSON for small values) and `<base_dir>/<asset>/LATEST` then names it. So:
- a downstream step loads exactly the version its upstream step stored in the same run (or,
  in a re-execution, in the parent run: Dagster's `upstream_output.run_id`); when only part of
  the graph runs, the latest one;
- `defs.load_asset_value(key)` returns the latest; `load_version(...)` any earlier one;
- a frame a blocking check rejects is stored beside the previous one, which stays loadable,
  and two runs at once never read each other's values.

Keyed by run id, not by content: the run is how Dagster, MLflow and the registry's tags name a
materialization. The content hash (`content_hash`) is recorded with each version: in the
materialization's metadata and, for Parquet, in the file's own footer together with the
version's lineage (what it was derived from, the config that made it), so a file describes
itself. Built on Dagster's `UPathIOManager` (universal-pathlib: any fsspec filesystem); local
writes are atomic (temporary file, then rename), so a killed run never leaves a half-written
version. An input declared with `metadata={"load": "reference"}` gets a `StoredVersion`
reference (path, run, content hash) read from the footer, without loading the data.

A version can also be a Parquet dataset: a directory `<run id>.parquet/` of part files that an
engine such as Spark wrote in place, from many processes (`ParquetDataset`). The engine
writes into a hidden staging directory beside the version (`dataset_staging_dir`); the IO
manager adds the lineage as the dataset's `_common_metadata` (Parquet's dataset-level footer)
and publishes the directory with one rename, so a reader sees the whole version or none.
Loading, `load_asset_value`, references and `stored_versions` treat it like a file.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dagster as dg
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from training_assets.io_managers.atomic import _fsync_directory, atomic_write

if TYPE_CHECKING:
    from upath import UPath

LATEST = "LATEST"
LINEAGE_KEY = b"training_assets.lineage"
# A dataset version's lineage lives in this file of the directory (schema, no rows).
DATASET_METADATA = "_common_metadata"
# `DataFrame.attrs` keys. An asset sets LINEAGE_ATTR (a dict) on a frame it returns: what the
# version was derived from and how, written into the footer. A loaded frame carries its
# StoredVersion under STORED_ATTR.
LINEAGE_ATTR = "lineage"
STORED_ATTR = "stored_version"


@dataclass(frozen=True)
class StoredVersion:
    """One stored materialization of an asset: where it is and what it holds."""

    asset: str
    run_id: str
    path: str
    content_hash: str = ""
    lineage: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class ContentHash:
    """A hash of a frame's values and column order, fed batch by batch: equal content, equal
    hash, however the rows were batched (each row's hash depends on that row alone)."""

    def __init__(self, columns: list[str]) -> None:
        self._digest = hashlib.sha256(",".join(map(str, columns)).encode())

    def update(self, rows: pd.DataFrame | pa.RecordBatch | pa.Table) -> None:
        frame = rows if isinstance(rows, pd.DataFrame) else rows.to_pandas()
        self._digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())

    def hexdigest(self) -> str:
        return self._digest.hexdigest()[:16]


def content_hash(frame: pd.DataFrame | pa.Table) -> str:
    """The content hash of a whole frame (see ContentHash)."""
    digest = ContentHash(
        list(frame.columns if isinstance(frame, pd.DataFrame) else frame.schema.names)
    )
    if isinstance(frame, pd.DataFrame):
        digest.update(frame)
    else:
        for batch in frame.to_batches(max_chunksize=1_000_000):
            digest.update(batch)
    return digest.hexdigest()


@dataclass
class TableStream:
    """A table written batch by batch, never whole in memory: what an asset returns when its
    value is too big to hold (e.g. the training frame streamed out of DuckDB).

    `inspect` sees every batch before it is written and may raise, which stops the write and
    stores nothing; `finish` runs after the last batch (it may raise too) and returns the
    materialization's metadata; `close` releases what produces the batches. `lineage` goes
    into the file's footer, with the content hash computed on the way.
    """

    schema: pa.Schema
    batches: Iterable[pa.RecordBatch]
    lineage: dict[str, Any] = field(default_factory=dict)
    inspect: Callable[[pa.RecordBatch], None] = lambda batch: None
    finish: Callable[[], dict[str, Any]] = dict
    close: Callable[[], None] = lambda: None


@dataclass(frozen=True)
class ParquetDataset:
    """An asset value already written as a Parquet dataset directory, in place, by an engine
    whose workers write their own part files (Spark). `staging` must come from
    `dataset_staging_dir` for this asset and run; the IO manager publishes it as the run's
    version by renaming it. `content_hash` is the engine's hash of the rows; `lineage` is
    written into the dataset's `_common_metadata` as a file's lineage goes into its footer."""

    staging: str
    content_hash: str
    lineage: dict[str, Any] = field(default_factory=dict)


def dataset_staging_dir(base_dir: str | Path, asset: str, run_id: str) -> Path:
    """Where an engine writes a dataset version before it is published: a hidden, unique
    directory beside `<base_dir>/<asset>/<run id>.parquet` (same file system, so publishing
    is one rename; hidden, so no reader or `stored_versions` takes it for a version)."""
    directory = Path(base_dir, *asset.split("/"))
    directory.mkdir(parents=True, exist_ok=True)
    return directory / f".{run_id}.parquet.staging-{uuid.uuid4().hex[:12]}"


def dataset_files(path: str | Path) -> list[Path]:
    """The part files of a dataset directory in name order (for Spark's sorted writes, the
    rows' order), or the file itself. Files starting with `_` or `.` are not data."""
    path = Path(path)
    if not path.is_dir():
        return [path]
    return sorted(
        p for p in path.iterdir() if p.suffix == ".parquet" and not p.name.startswith(("_", "."))
    )


def stored_row_count(path: str | Path) -> int:
    """Rows of a stored Parquet version (a file or a dataset directory), from the footers."""
    return sum(pq.read_metadata(p).num_rows for p in dataset_files(path))


def parquet_source(path: str | Path) -> str:
    """A stored Parquet version as DuckDB's `read_parquet` takes it (a glob for a dataset)."""
    return f"{path}/*.parquet" if Path(path).is_dir() else str(path)


class VersionNotFoundError(FileNotFoundError):
    """No stored version of the asset matches; the message says which and what to do."""


class _VersionedStore(dg.UPathIOManager):
    """Paths and version bookkeeping; subclasses say how a value is written and read."""

    def _asset_dir(self, context: dg.InputContext | dg.OutputContext) -> UPath:
        return self._base_path.joinpath(*context.asset_key.path)

    def _get_path(self, context: dg.InputContext | dg.OutputContext) -> UPath:
        directory = self._asset_dir(context)
        if isinstance(context, dg.OutputContext):
            return directory / f"{_run_id(context)}{self.extension}"
        upstream = context.upstream_output
        run_id = _run_id(upstream) if upstream is not None else None
        if run_id and (directory / f"{run_id}{self.extension}").exists():
            return directory / f"{run_id}{self.extension}"
        latest = directory / LATEST
        if not latest.exists():
            raise VersionNotFoundError(
                f"No stored value for asset {context.asset_key.to_user_string()!r} under "
                f"{directory}: materialize it first."
            )
        return directory / latest.read_text().strip()

    def handle_output(self, context: dg.OutputContext, obj: Any) -> None:
        super().handle_output(context, obj)
        path = self._get_path(context)
        # The version is complete on disk: only now does it become the latest.
        _write_text(self._asset_dir(context) / LATEST, path.name)

    def load_input(self, context: dg.InputContext) -> Any:
        if _wants_reference(context):
            return self.reference(context.asset_key.to_user_string(), self._get_path(context))
        return super().load_input(context)

    def reference(self, asset: str, path: UPath) -> StoredVersion:
        return stored_version(asset, path)


def _run_id(context: dg.OutputContext) -> str | None:
    try:
        return context.run_id
    except dg.DagsterInvariantViolationError:  # a context built without a run (tests)
        return None


def _write_text(path: UPath, text: str) -> None:
    if path.protocol in ("", "file", "local"):
        atomic_write(Path(path.path), lambda tmp: tmp.write_text(text))
    else:  # object stores put a whole object at once
        path.write_text(text)


class _ParquetStore(_VersionedStore):
    extension = ".parquet"

    def dump_to_path(
        self,
        context: dg.OutputContext,
        obj: pd.DataFrame | pa.Table | TableStream | ParquetDataset,
        path,
    ) -> None:
        if isinstance(obj, ParquetDataset):
            return self._publish_dataset(context, obj, path)
        stream = obj if isinstance(obj, TableStream) else _as_stream(obj)
        local = path.protocol in ("", "file", "local")
        try:
            if local:
                metadata = {}
                atomic_write(
                    Path(path.path),
                    lambda tmp: metadata.update(_write_stream(stream, tmp, context, path)),
                )
            else:
                with path.open("wb") as handle:
                    metadata = _write_stream(stream, handle, context, path)
        finally:
            stream.close()
        context.add_output_metadata(
            {**metadata, "stored_bytes": path.stat().st_size, "stored_version": f"run {path.stem}"}
        )

    def _publish_dataset(self, context: dg.OutputContext, obj: ParquetDataset, path) -> None:
        """Lineage into the staging directory's `_common_metadata`, then one rename makes it
        the version (a retried step's earlier version of the same run is replaced)."""
        if path.protocol not in ("", "file", "local"):
            raise NotImplementedError(
                f"Publishing a Parquet dataset to {path} needs a local or mounted file system "
                "(a rename); object storage needs a commit protocol (docs/spark.md)."
            )
        staging, target = Path(obj.staging), Path(path.path)
        files = dataset_files(staging)
        if not staging.is_dir() or not files:
            raise FileNotFoundError(f"No Parquet part files in {staging} to publish as {target}.")
        lineage = {**obj.lineage, "content_hash": obj.content_hash}
        lineage |= {"asset": context.asset_key.to_user_string(), "run_id": path.stem}
        schema = pq.read_schema(files[0])
        schema = schema.with_metadata({LINEAGE_KEY: json.dumps(lineage).encode()})
        pq.write_metadata(schema, staging / DATASET_METADATA)
        replaced = None
        if target.exists():
            replaced = target.with_name(f".{target.name}.replaced-{uuid.uuid4().hex[:12]}")
            os.rename(target, replaced)
        try:
            os.rename(staging, target)
        except OSError as error:
            if replaced is not None:
                os.rename(replaced, target)
            if error.errno == errno.EXDEV:
                raise OSError(
                    f"{staging} is on another file system than {target}: write datasets into "
                    "dataset_staging_dir() of the storage they are published to."
                ) from error
            raise
        if replaced is not None:
            shutil.rmtree(replaced, ignore_errors=True)
        _fsync_directory(target.parent)
        context.add_output_metadata(
            {
                "content_hash": obj.content_hash,
                "stored_bytes": sum(p.stat().st_size for p in target.iterdir()),
                "stored_files": len(dataset_files(target)),
                "stored_version": f"run {path.stem}",
            }
        )

    def load_from_path(self, context: dg.InputContext, path) -> pd.DataFrame | pa.Table:
        table = _read_table(path)
        if _wants_arrow(context):
            return table
        # A new DataFrame per input: no step sees another's changes.
        frame = table.to_pandas()
        frame.attrs[STORED_ATTR] = self.reference(context.asset_key.to_user_string(), path)
        return frame


class _JsonStore(_VersionedStore):
    extension = ".json"

    def dump_to_path(self, context: dg.OutputContext, obj: Any, path) -> None:
        text = json.dumps(obj, indent=2, sort_keys=True) + "\n"
        _write_text(path, text)
        context.add_output_metadata(
            {
                "content_hash": hashlib.sha256(text.encode()).hexdigest()[:16],
                "stored_version": f"run {path.stem}",
            }
        )

    def load_from_path(self, context: dg.InputContext, path) -> Any:
        return json.loads(path.read_text())


def _as_stream(obj: pd.DataFrame | pa.Table) -> TableStream:
    given = getattr(obj, "attrs", {}).get(LINEAGE_ATTR)
    # What `DataFrame.to_parquet(index=False)` stores; Arrow tables are written as they are.
    table = obj if isinstance(obj, pa.Table) else pa.Table.from_pandas(obj, preserve_index=False)
    lineage = dict(given) if isinstance(given, dict) else {}
    if isinstance(obj, pd.DataFrame) and "content_hash" not in lineage:
        lineage["content_hash"] = content_hash(obj)  # of the frame as the asset made it
    return TableStream(table.schema, table.to_batches(max_chunksize=1_000_000), lineage)


def _write_stream(stream: TableStream, where, context: dg.OutputContext, path) -> dict[str, Any]:
    """Write the batches as one Parquet file (a row group per batch), hashing and inspecting
    them on the way; the lineage, content hash included, goes into the footer."""
    schema = stream.schema.remove_metadata()
    digest = ContentHash(schema.names)
    # Dictionary encoding only where it tends to pay: not on floats and timestamps, which are
    # nearly all distinct (trying it there doubled the frame's write time and saved nothing).
    dictionary = [
        f.name
        for f in schema
        if not (pa.types.is_floating(f.type) or pa.types.is_timestamp(f.type))
    ]
    with pq.ParquetWriter(where, stream.schema, use_dictionary=dictionary) as writer:
        for batch in stream.batches:
            stream.inspect(batch)
            if "content_hash" not in stream.lineage:
                digest.update(batch)
            writer.write_batch(batch)
        metadata = stream.finish() or {}
        lineage = {
            "content_hash": digest.hexdigest(),
            **stream.lineage,
            "asset": context.asset_key.to_user_string(),
            "run_id": path.stem,
        }
        writer.add_key_value_metadata({LINEAGE_KEY: json.dumps(lineage)})
    return {**metadata, "content_hash": lineage["content_hash"]}


def stored_version(asset: str, path) -> StoredVersion:
    """What a stored file says about itself: for Parquet, the lineage in its footer (read
    without the data); for JSON, the hash of its text."""
    if str(path).endswith(".parquet") and path.is_dir():
        footer = Path(path) / DATASET_METADATA
        raw = (pq.read_schema(footer).metadata or {}).get(LINEAGE_KEY) if footer.exists() else None
        lineage = json.loads(raw) if raw else {}
    elif str(path).endswith(".parquet"):
        raw = (pq.read_metadata(_local_or_open(path)).metadata or {}).get(LINEAGE_KEY)
        lineage = json.loads(raw) if raw else {}
    else:
        lineage = {"content_hash": hashlib.sha256(path.read_bytes()).hexdigest()[:16]}
    return StoredVersion(
        asset=asset,
        run_id=path.stem,
        path=str(path),
        content_hash=lineage.pop("content_hash", ""),
        lineage={k: v for k, v in lineage.items() if k not in ("asset", "run_id")},
    )


def _local_or_open(path):
    if isinstance(path, Path) or getattr(path, "protocol", "") in ("", "file", "local"):
        return str(path)
    return path.open("rb")


# The last few tables read, by path, size and modification time: one run reads the training
# frame for a dozen steps and checks. Arrow tables are immutable, so sharing them is safe.
_READ_CACHE: OrderedDict[tuple[str, int, int], pa.Table] = OrderedDict()
_READ_CACHE_SIZE = 3


def _read_table(path) -> pa.Table:
    stat = path.stat()
    key = (str(path), stat.st_size, int(getattr(stat, "st_mtime_ns", 0)))
    if key in _READ_CACHE:
        _READ_CACHE.move_to_end(key)
        return _READ_CACHE[key]
    table = _read_dataset(Path(path)) if path.is_dir() else pq.read_table(_local_or_open(path))
    _READ_CACHE[key] = table
    while len(_READ_CACHE) > _READ_CACHE_SIZE:
        _READ_CACHE.popitem(last=False)
    return table


def _read_dataset(directory: Path) -> pa.Table:
    """A dataset version's rows in part-file order, with the dataset's own schema metadata
    (the lineage) instead of the writer's per-file metadata."""
    files = dataset_files(directory)
    if not files:
        raise FileNotFoundError(f"No Parquet part files in {directory}.")
    table = pa.concat_tables(pq.read_table(p) for p in files)
    footer = directory / DATASET_METADATA
    metadata = pq.read_schema(footer).metadata if footer.exists() else None
    return table.replace_schema_metadata(metadata)


def _wants_reference(context: dg.InputContext) -> bool:
    """An input declared with `metadata={"load": "reference"}` or annotated StoredVersion."""
    if (context.definition_metadata or {}).get("load") == "reference":
        return True
    try:
        return context.dagster_type.typing_type is StoredVersion
    except dg.DagsterInvariantViolationError:  # a context built without a type
        return False


def _wants_arrow(context: dg.InputContext) -> bool:
    try:
        return context.dagster_type.typing_type is pa.Table
    except dg.DagsterInvariantViolationError:  # a context built without a type
        return False


class ParquetIOManager(dg.ConfigurableIOManagerFactory):
    """pandas DataFrames or Arrow tables as versioned Parquet files, read back as pandas
    DataFrames (or as an Arrow table for an input annotated `pa.Table`)."""

    base_dir: str

    def create_io_manager(self, context: dg.InitResourceContext) -> _ParquetStore:
        from upath import UPath

        return _ParquetStore(base_path=UPath(self.base_dir))


class JsonIOManager(dg.ConfigurableIOManagerFactory):
    """JSON-serialisable values (dicts of numbers and strings) as versioned JSON files."""

    base_dir: str

    def create_io_manager(self, context: dg.InitResourceContext) -> _JsonStore:
        from upath import UPath

        return _JsonStore(base_path=UPath(self.base_dir))


def stored_versions(base_dir: str | Path, asset: str) -> list[Path]:
    """The stored versions of an asset, oldest first (local storage): files, and Parquet
    dataset directories (never a hidden staging directory)."""
    directory = Path(base_dir, *asset.split("/"))
    if not directory.is_dir():
        return []
    versions = [
        p
        for p in directory.iterdir()
        if not p.name.startswith(".")
        and (
            (p.is_file() and p.suffix in (".parquet", ".json"))
            or (p.is_dir() and p.suffix == ".parquet")
        )
    ]
    return sorted(versions, key=lambda p: (p.stat().st_mtime_ns, p.name))
