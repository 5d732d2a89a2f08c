"""The leakage proof's source index: the same rows cached or not, reused while the source is
unchanged, replaced when it changes."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pandas as pd

from training_assets.domain.validation.leakage import FeatureSource
from training_assets.domain.validation.source_index import RELATION, create_source_index


def _source(path: Path, conv_rates: list[float]) -> FeatureSource:
    pd.DataFrame(
        {
            "driver_id": [1, 1, 1, 2],
            "datetime": pd.to_datetime(
                ["2026-01-01", "2026-01-01", "2026-01-02", "2026-01-01"], utc=True
            ),
            # Two rows of driver 1 at the same time: the later `created` wins.
            "created": pd.to_datetime(
                ["2026-01-01 01:00", "2026-01-01 02:00", "2026-01-02 00:00", "2026-01-01 00:00"],
                utc=True,
            ),
            "conv_rate": conv_rates,
            "acc_rate": [0.5] * 4,
            "avg_daily_trips": [10] * 4,
        }
    ).to_parquet(path, index=False)
    return FeatureSource(str(path), "datetime", "created", None)


def _index(source: FeatureSource, cache: Path | None) -> list[tuple]:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    create_source_index(con, source, cache)
    rows = con.execute(
        f"SELECT driver_id, __ts, __next, conv_rate FROM {RELATION} ORDER BY ALL"
    ).fetchall()
    con.close()
    return rows


def test_cached_index_equals_the_computed_one_and_is_reused(tmp_path):
    source = _source(tmp_path / "stats.parquet", [0.1, 0.2, 0.3, 0.4])
    cache = tmp_path / "cache"
    computed = _index(source, None)
    assert [(r[0], r[3]) for r in computed] == [(1, 0.2), (1, 0.3), (2, 0.4)]
    assert computed[0][2] == computed[1][1]  # driver 1's first row is followed by its second
    assert _index(source, cache) == computed
    (entry,) = cache.iterdir()
    written = entry.stat().st_mtime_ns
    assert _index(source, cache) == computed
    assert [p.stat().st_mtime_ns for p in cache.iterdir()] == [written]  # read, not rewritten


def test_a_changed_source_replaces_its_entry(tmp_path):
    path = tmp_path / "stats.parquet"
    cache = tmp_path / "cache"
    before = _index(_source(path, [0.1, 0.2, 0.3, 0.4]), cache)
    (old,) = cache.iterdir()
    written = path.stat()
    source = _source(path, [0.1, 0.25, 0.3, 0.4])
    # Even with the old modification time (a copy that kept it), the change is seen.
    os.utime(path, ns=(written.st_atime_ns, written.st_mtime_ns))
    after = _index(source, cache)
    assert after != before and after == _index(source, None)
    (new,) = cache.iterdir()
    assert new != old
