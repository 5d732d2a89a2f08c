"""The frame checks of `frame_checks.py` for a frame too big for pandas: the same expectations
and metadata, computed by DuckDB over the stored Parquet version (`sql_engine.py`).

Leakage here does not repeat the point-in-time join. The join carries each row's feature
timestamp; the proof checks, per row, that the source has a row of that driver at that time
(the latest `created` among ties) with the frame's values, that no newer source row was
observed at or before the event, and that the row is within the ttl (one hash join against
the source, deduplicated, with each row's successor). Rows that got no features are checked
the other way: an ASOF join over just those rows says whether the source had one.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import dagster as dg
import pandas as pd

from training_assets.domain.validation import leakage
from training_assets.domain.validation.frame_checks import (
    ASSET,
    MAX_DRIVERS_LISTED,
    Evidence,
    FrameCheck,
    Registry,
    class_counts_metadata,
    schema_evidence,
    validate_concern,
)
from training_assets.domain.validation.gx_suites import (
    LEAKAGE,
    ROUNDED_SUFFIX,
    SCHEMA,
    declared_features,
    part,
    training_frame_suite,
)
from training_assets.domain.validation.gx_validation import (
    SuiteOutcome,
    check_result,
    outcome_from_result,
)
from training_assets.domain.validation.sql_engine import (
    SqlExpectations,
    StoredFrame,
    suite_document,
)
from training_assets.io_managers.files import stored_row_count
from training_assets.resources.data_validation import DataValidationResource
from training_assets.schema import (
    AS_OF_SUFFIX,
    ENTITY_KEY,
    EVENT_TIMESTAMP,
    FEAST_TO_PANDAS_DTYPE,
    FEATURE_TIMESTAMP,
    FEATURES,
    TARGET,
)

INDEX = (ENTITY_KEY, EVENT_TIMESTAMP)
_SQL_TYPES = {"float32": "FLOAT", "float64": "DOUBLE", "int32": "INTEGER", "int64": "BIGINT"}


def run_stored_frame_check(
    check: FrameCheck,
    stored: str,
    feast_registry: Registry,
    settings: DataValidationResource,
) -> dg.AssetCheckResult:
    """A check on the stored frame version at `stored`: in pandas and GX as before when it
    has at most `out_of_core_rows` rows, else in DuckDB where it lies."""
    from training_assets.domain.validation.frame_checks import run_frame_check

    if stored_row_count(stored) <= settings.out_of_core_rows:
        return run_frame_check(check, pd.read_parquet(stored), feast_registry, settings)
    return run_frame_check_sql(check, stored, feast_registry, settings, datetime.now(UTC))


def run_frame_check_sql(
    check: FrameCheck,
    path: str,
    feast_registry: Registry,
    settings: DataValidationResource,
    now: datetime,
    open_frame: Callable[[str], StoredFrame] | None = None,
) -> dg.AssetCheckResult:
    """The check in SQL over the stored version at `path`, on the backend `open_frame`
    returns for it (DuckDB by default; `SparkStoredFrame` in the Spark profile)."""
    opened = open_frame(path) if open_frame else StoredFrame(path, settings.duckdb_memory_limit)
    with opened as frame:
        if check.name == SCHEMA:
            nulls = frame.null_counts()
            empty = frame.empty_pandas(nulls)
            outcome = validate_concern(SCHEMA, empty, feast_registry, settings, now=now)
            evidence = schema_evidence(dict(empty.dtypes.astype(str)), nulls, feast_registry)
        else:
            unit = frame.schema.field(EVENT_TIMESTAMP).type.unit
            suite = training_frame_suite(
                feast_registry, min_rows=settings.min_rows, now=now, timestamp_unit=unit
            )
            relation, evidence = _prepare(check.name, frame, feast_registry, settings)
            if evidence.error is not None:
                dg.get_dagster_logger().error(
                    f"Data check {check.name} on {ASSET} failed: {evidence.error}"
                )
                return dg.AssetCheckResult(passed=False, metadata={"error": evidence.error})
            engine = SqlExpectations(frame, relation, INDEX, settings.max_examples)
            items = engine.evaluate(part(suite, check.name))
            outcome = SuiteOutcome(
                check.name,
                [outcome_from_result(item, settings.max_examples) for item in items],
                [suite_document(check.name, items, frame.engine)],
            )
        return check_result(
            outcome,
            settings,
            asset=ASSET,
            check=check.name,
            extra_metadata={"rows": frame.rows, "engine": frame.engine, **evidence.metadata},
            extra_failures=evidence.failures,
        )


def _prepare(
    check: str, frame: StoredFrame, registry: Registry, settings: DataValidationResource
) -> tuple[str, Evidence]:
    """The relation the check's expectations run on, and its evidence."""
    quote = frame.quote
    if check == LEAKAGE:
        return _leakage(frame, registry, settings)
    if check.endswith("_values"):
        declared = declared_features(registry)
        rounded = [
            f"round({quote(name)}) AS {quote(name + ROUNDED_SUFFIX)}"
            for name, feast_type in declared.items()
            if feast_type.startswith("Int")
        ]
        frame.view("checked", f"SELECT *, {', '.join(rounded)} FROM frame")
        bounds = frame.one(
            "SELECT "
            + ", ".join(f"min({quote(c)}), max({quote(c)})" for c in (*FEATURES, EVENT_TIMESTAMP))
            + " FROM frame"
        )
        ranges = {
            name: f"{_shown(bounds[2 * i])} .. {_shown(bounds[2 * i + 1])}"
            for i, name in enumerate((*FEATURES, EVENT_TIMESTAMP))
        }
        return "checked", Evidence(metadata={"observed_ranges": dg.MetadataValue.json(ranges)})
    if check.endswith("_completeness"):
        return "frame", _completeness(frame)
    if check.endswith(("_label_domain", "_volume")):
        counts = {
            str(label): int(count)
            for label, count in frame.all(
                f"SELECT {quote(TARGET)}, count(*) FROM frame GROUP BY ALL ORDER BY 1 NULLS LAST"
            )
        }
        metadata = class_counts_metadata(counts)
        if check.endswith("_volume"):
            metadata = {"min_rows": settings.min_rows, **metadata}
        return "frame", Evidence(metadata=metadata)
    return "frame", Evidence()


def _shown(value: Any) -> str:
    return str(pd.Timestamp(value)) if isinstance(value, datetime) else str(value)


def _completeness(frame: StoredFrame) -> Evidence:
    quote = frame.quote
    all_null = " AND ".join(f"{quote(n)} IS NULL" for n in FEATURES)
    any_null = " OR ".join(f"{quote(n)} IS NULL" for n in FEATURES)
    without, some = frame.one(
        f"SELECT count(*) FILTER (WHERE {all_null}), "
        f"count(*) FILTER (WHERE ({any_null}) AND NOT ({all_null})) FROM frame"
    )
    metadata: dict[str, Any] = {
        "null_counts": dg.MetadataValue.json(frame.null_counts()),
        "label_rows_without_feature_row": int(without),
        "label_rows_with_some_null_features": int(some),
    }
    if without:
        drivers = [
            row[0]
            for row in frame.all(
                f"SELECT DISTINCT {quote(ENTITY_KEY)} FROM frame WHERE {all_null} ORDER BY 1"
            )
        ]
        shown = ", ".join(map(str, drivers[:MAX_DRIVERS_LISTED]))
        more = len(drivers) - MAX_DRIVERS_LISTED
        metadata["drivers_without_features"] = shown + (f" (+{more} more)" if more > 0 else "")
        first, last = frame.one(
            f"SELECT min({quote(EVENT_TIMESTAMP)}), max({quote(EVENT_TIMESTAMP)}) "
            f"FROM frame WHERE {all_null}"
        )
        metadata["time_range_without_features"] = f"{_shown(first)} .. {_shown(last)}"
        examples = frame.pandas(
            f"SELECT {frame.columns()} FROM frame WHERE {all_null} "
            f"ORDER BY {frame.row_order} LIMIT 5"
        )
        metadata["example_rows"] = dg.MetadataValue.md(examples.to_markdown(index=False))
    return Evidence(metadata=metadata)


def _leakage(
    frame: StoredFrame, registry: Registry, settings: DataValidationResource
) -> tuple[str, Evidence]:
    quote = frame.quote
    source = leakage.FeatureSource.from_registry(registry)
    types = {
        name: _SQL_TYPES.get(FEAST_TO_PANDAS_DTYPE.get(feast_type, ""), "DOUBLE")
        for name, feast_type in declared_features(registry).items()
    }
    ttl_micros = int(source.ttl_seconds * 1_000_000) if source.ttl_seconds else 0
    ttl = (
        f" AND {frame.plus_micros('s.__ts', ttl_micros)} >= f.{quote(EVENT_TIMESTAMP)}"
        if ttl_micros
        else ""
    )
    key, event = quote(ENTITY_KEY), quote(EVENT_TIMESTAMP)
    try:
        # `source_next`: per driver and time the row an as-of join takes, with the next time.
        frame.source_index(source, settings.cache_path("feature_source_index"))
    except Exception as error:  # a missing or unreadable source: say so, as the pandas path
        return "frame", Evidence(error=f"cannot read the feature source {source.path}: {error}")
    # The source's values of the carried row, when that row is the one an as-of join takes.
    taken = f"s.__ts <= f.{event} AND (s.__next IS NULL OR s.__next > f.{event}){ttl}"
    as_of = ", ".join(
        f"CAST(CASE WHEN {taken} THEN s.{quote(n)} END AS {types[n]}) AS {quote(n + AS_OF_SUFFIX)}"
        for n in FEATURES
    )
    differs = " OR ".join(
        f"{quote(n)} IS DISTINCT FROM {quote(n + AS_OF_SUFFIX)}" for n in FEATURES
    )
    # The join runs once: only the rows whose carried values differ from the source's are
    # kept (none, when the frame is right). `checked` then gives every row its as-of values
    # from that small table; the expectations query it several times (count and examples
    # each), which over the join itself took ~25 s at 10M rows instead of ~3.
    row_key = frame.row_key
    frame.table(
        "leakage_mismatches",
        f"""
        SELECT * FROM (
          SELECT {", ".join(f"f.{c}" for c in row_key)}, f.{event}, f.{key},
                 {", ".join(f"f.{quote(n)}" for n in FEATURES)}, {as_of}
          FROM frame f LEFT JOIN source_next s
            ON f.{key} = s.{key} AND f.{quote(FEATURE_TIMESTAMP)} = s.__ts
        ) AS joined WHERE {differs}
        """,
    )
    carried = ", ".join(
        f"CASE WHEN m.{row_key[-1]} IS NULL THEN f.{quote(n)} "
        f"ELSE m.{quote(n + AS_OF_SUFFIX)} END AS {quote(n + AS_OF_SUFFIX)}"
        for n in FEATURES
    )
    frame.view(
        "checked",
        f"""
        SELECT f.*, {carried}
        FROM frame f LEFT JOIN leakage_mismatches m
          ON {" AND ".join(f"f.{c} = m.{c}" for c in row_key)}
        """,
    )
    (mismatched,) = frame.one("SELECT count(*) FROM leakage_mismatches")
    # Rows without features: did the source have a row the join should have taken?
    (missed,) = frame.one(
        frame.count_with_row_at_or_before(
            f"SELECT * FROM frame WHERE {quote(FEATURE_TIMESTAMP)} IS NULL",
            "source_next",
            key,
            event,
            ttl,
        )
    )
    (oldest,) = frame.one(f"SELECT max({event} - {quote(FEATURE_TIMESTAMP)}) FROM frame")
    explanations = _explain(frame, source, settings.max_examples) if mismatched else []
    failures = list(explanations)
    if missed:
        failures.append(
            f"{missed} row(s) got no features although the source has a row of their driver at "
            "or before the event within the ttl"
        )
    metadata: dict[str, Any] = {
        "feature_source": dg.MetadataValue.path(source.path),
        "ttl_seconds": source.ttl_seconds or 0,
        "rows_differing_from_as_of": int(mismatched) + int(missed),
        "max_feature_age": str(oldest) if oldest is not None else "n/a",
    }
    if failures:
        metadata["explanations"] = dg.MetadataValue.md("\n".join(f"- {x}" for x in failures))
    return "checked", Evidence(metadata=metadata, failures=failures)


def _explain(frame: StoredFrame, source: leakage.FeatureSource, limit: int) -> list[str]:
    """The first mismatching rows, recomputed as-of and explained (a few rows: pandas)."""
    quote = frame.quote
    rows = frame.pandas(
        f"SELECT {quote(EVENT_TIMESTAMP)}, {quote(ENTITY_KEY)}, "
        f"{', '.join(quote(n) for n in FEATURES)} FROM leakage_mismatches "
        f"ORDER BY {frame.row_order} LIMIT {int(limit)}"
    )
    if rows.empty:
        return []
    recomputed = leakage.with_as_of_features(rows, source)
    return leakage.explain(leakage.mismatched_rows(recomputed), source, limit)
