"""Checks on the feature source that stop `training_frame` before anything is stored.

A bad input must fail the step, naming the file, column and value, without replacing the
stored training frame (the Great Expectations checks run after the asset is stored, so they
cannot keep the last good value). Two stages, both cheap:
- before the join, the source file's footer: present, Parquet, rows, declared columns/types;
- after the join, the feature values the label rows received: no NaN, within FEATURE_RANGES,
  and no label of a driver the source has never seen.
"""

import math
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from training_assets.schema import ENTITY_KEY, EVENT_TIMESTAMP, FEATURE_RANGES


class FeatureSourceError(ValueError):
    """The feature source cannot be used; the message names the file, column and value."""


def check_feature_source(plan: dict[str, Any], declared: dict[str, str]) -> None:
    """The footer of the view's Parquet source against the view's declaration in Feast."""
    path = Path(plan["path"])
    view = plan["name"]
    if not path.exists():
        raise FeatureSourceError(
            f"Feature source not found: {path} (source of feature view {view!r} in the feature "
            "repo; setting DRIVER_STATS_PATH)."
        )
    if path.is_dir():
        return  # A partitioned source: DuckDB reads and reports it.
    try:
        metadata = pq.read_metadata(path)
    except (pa.ArrowException, OSError) as error:
        raise FeatureSourceError(
            f"Feature source {path} is not a readable Parquet file ({error})."
        ) from error
    if metadata.num_rows == 0:
        raise FeatureSourceError(f"Feature source {path} has no rows.")
    schema = metadata.schema.to_arrow_schema()
    renamed = {new: old for old, new in plan.get("field_mapping", ())}
    expected = {source: declared.get(name, "") for source, name in plan["features"]}
    for key, _ in plan["join_keys"]:
        expected[key] = "Int64"
    for name, feast_type in expected.items():
        column = renamed.get(name, name)
        if column not in schema.names:
            raise FeatureSourceError(
                f"Feature source {path} lacks column {column!r} of feature view {view!r}; "
                f"it has {schema.names}."
            )
        arrow_type = schema.field(column).type
        if not _fits(arrow_type, feast_type):
            raise FeatureSourceError(
                f"Feature source {path}, column {column!r} is {arrow_type}, but feature view "
                f"{view!r} declares it {feast_type}."
            )


def _fits(arrow_type: pa.DataType, feast_type: str) -> bool:
    """Whether a Parquet column can hold a Feast type's values without changing them."""
    if feast_type.startswith("Int"):
        return pa.types.is_integer(arrow_type)
    if feast_type.startswith("Float"):
        return pa.types.is_floating(arrow_type) or pa.types.is_integer(arrow_type)
    return True


class JoinedFeatureChecks:
    """The features each label row received, batch by batch as the frame is written: finite,
    in range, and found for every driver. `finish` raises with the totals over all batches,
    naming the column, the count, the range and a few rows."""

    def __init__(self, plan: dict[str, Any]) -> None:
        self.plan = plan
        self.bad: dict[str, int] = {}
        self.examples: dict[str, str] = {}
        self.unseen_candidates: set[int] = set()

    def inspect(self, batch: pa.RecordBatch | pa.Table) -> None:
        for name, (low, high) in FEATURE_RANGES.items():
            column = batch.column(name)
            bad = pc.is_nan(column) if pa.types.is_floating(column.type) else None
            if low is not None:
                bad = _or(bad, pc.less(column, low))
            if high is not None:
                bad = _or(bad, pc.greater(column, high))
            if bad is not None and pc.any(bad).as_py():
                rows = batch.filter(pc.fill_null(bad, False))
                self.bad[name] = self.bad.get(name, 0) + rows.num_rows
                self.examples.setdefault(name, _examples(rows, name))
        first = next(iter(FEATURE_RANGES))
        without = pc.is_null(batch.column(first))
        if pc.any(without).as_py() and not Path(self.plan["path"]).is_dir():
            (_, entity_key), *_ = self.plan["join_keys"]
            found = pc.unique(batch.filter(without).column(entity_key)).to_pylist()
            self.unseen_candidates.update(found)

    def finish(self) -> None:
        source = self.plan["path"]
        for name, count in self.bad.items():
            low, high = FEATURE_RANGES[name]
            raise FeatureSourceError(
                f"Feature source {source}, column {name!r}: {count} label row(s) "
                f"received values that are NaN or outside {_interval(low, high)}, e.g. "
                f"{self.examples[name]}."
            )
        unseen = self._unseen_drivers()
        if unseen:
            raise FeatureSourceError(
                f"Labels of {ENTITY_KEY} {unseen[:5]}{' and more' if len(unseen) > 5 else ''} "
                f"have no feature rows in the feature source {source}: an unknown driver, or "
                "a labels file that does not belong to these features."
            )

    def _unseen_drivers(self) -> list[int]:
        """Drivers of label rows that got no features at all and that the source never
        mentions. Reads the source's driver column only when some label row got no features."""
        if not self.unseen_candidates:
            return []
        (source_key, _), *_ = self.plan["join_keys"]
        candidates = pa.array(sorted(self.unseen_candidates))
        known = pq.read_table(self.plan["path"], columns=[source_key])[source_key]
        unseen = pc.filter(candidates, pc.invert(pc.is_in(candidates, value_set=pc.unique(known))))
        return sorted(unseen.to_pylist())


def check_joined_features(frame: pa.Table, plan: dict[str, Any]) -> None:
    """The features each label row received (the whole frame at once)."""
    checks = JoinedFeatureChecks(plan)
    checks.inspect(frame)
    checks.finish()


def _or(left: pa.ChunkedArray | None, right: pa.ChunkedArray) -> pa.ChunkedArray:
    return right if left is None else pc.or_(left, right)


def _interval(low: float | None, high: float | None) -> str:
    return f"[{-math.inf if low is None else low}, {math.inf if high is None else high}]"


def _examples(rows: pa.Table | pa.RecordBatch, name: str, limit: int = 3) -> str:
    shown = pa.Table.from_batches([rows]) if isinstance(rows, pa.RecordBatch) else rows
    shown = shown.slice(0, limit).select([name, ENTITY_KEY, EVENT_TIMESTAMP]).to_pylist()
    return ", ".join(
        f"{_number(row[name])} ({ENTITY_KEY} {row[ENTITY_KEY]}, label at {row[EVENT_TIMESTAMP]})"
        for row in shown
    )


def _number(value: float | int) -> str:
    # float32 values print with float64 noise otherwise: 1.5545666217803955.
    return f"{value:.6g}" if isinstance(value, float) else str(value)
