"""Time the `training_frame` materialization against Feast's stock `duckdb` store and a bare
DuckDB ASOF JOIN on the same files, and check the three outputs are identical.

    .venv/bin/python benchmarks/training_frame.py --labels 1000000 --feature-rows 1000000

Each contender runs in its own process (median of --repeat runs), after its imports:
- ours:         `dg.materialize` of `training_frame` with the repo's ASOF offline store
                (labels read, joined, sorted, handed to the IO manager, written to Parquet);
- feast_duckdb: the same materialization with `offline_store: type: duckdb` (Feast's stock
                store through `FeatureStore.get_historical_features`, as before this change);
- duckdb_asof:  one hand-written DuckDB statement: read the CSV and the Parquet, keep the
                latest `created` per (driver, timestamp), ASOF LEFT JOIN, ttl, ORDER BY,
                COPY to Parquet.
Peak memory is each process's own peak RSS (imports included). Sample data comes from
`training_assets.sample_data` and is cached under var/bench/. The last line printed is one
JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import (
    BENCH_DIR,
    data_dir,
    median,
    project_copy,
    report,
    run_child,
    timed,
)

STOCK_STORE = "duckdb"


def child_apply() -> None:
    """Materialize `feast_registry` (feast apply) so the timed runs can load it."""
    import dagster as dg

    from training_assets.assets.features import feast_registry
    from training_assets.definitions import build_resources

    assert dg.materialize([feast_registry], resources=build_resources()).success
    report({})


def child_training_frame(preimport_feast: bool) -> None:
    import dagster as dg

    from training_assets.assets.features import feast_registry, training_frame
    from training_assets.definitions import build_resources

    if preimport_feast:
        # The stock path imports Feast inside the step; that import (~6 s) is not counted.
        import feast
        import feast.infra.offline_stores.duckdb  # noqa: F401

    # Dagster imports its run and event-log storage on first use: an import cost like the
    # others, paid before the clock starts (it is in `process_s`).
    dg.DagsterInstance.ephemeral()

    result: dict = {}
    with timed(result):
        outcome = dg.materialize(
            [feast_registry, training_frame],
            selection=["training_frame"],
            resources=build_resources(),
        )
    assert outcome.success
    report(result)


def child_duckdb_asof(data: Path, out: Path, ttl_days: int) -> None:
    import duckdb

    labels = str(data / "driver_orders.csv").replace("'", "''")
    features = str(data / "driver_stats.parquet").replace("'", "''")
    columns = (
        "{'event_timestamp': 'TIMESTAMPTZ', 'driver_id': 'BIGINT', 'trip_completed': 'BIGINT'}"
    )
    fresh = f"f.datetime >= l.event_timestamp - INTERVAL {int(ttl_days)} DAY"
    sql = f"""
    COPY (
      SELECT l.event_timestamp, l.driver_id, l.trip_completed,
             CASE WHEN {fresh} THEN f.conv_rate END AS conv_rate,
             CASE WHEN {fresh} THEN f.acc_rate END AS acc_rate,
             CASE WHEN {fresh} THEN f.avg_daily_trips END AS avg_daily_trips
      FROM read_csv('{labels}', delim = '\t', header = true, columns = {columns}) AS l
      ASOF LEFT JOIN (
        SELECT driver_id, datetime, conv_rate, acc_rate, avg_daily_trips
        FROM read_parquet('{features}')
        QUALIFY row_number() OVER (PARTITION BY driver_id, datetime ORDER BY created DESC) = 1
      ) AS f
      ON l.driver_id = f.driver_id AND l.event_timestamp >= f.datetime
      ORDER BY l.event_timestamp, l.driver_id, l.trip_completed
    ) TO '{str(out).replace("'", "''")}' (FORMAT parquet)
    """
    result: dict = {}
    with timed(result):
        con = duckdb.connect()
        con.execute("SET TimeZone = 'UTC'")
        con.execute("SET preserve_insertion_order = false")
        con.execute(sql)
    report(result)


def identical(a: Path, b: Path) -> bool:
    """Equal on `b`'s columns: ours also carries each row's feature timestamp (the leakage
    check's evidence), which neither Feast's store nor the bare join returns."""
    import pyarrow.parquet as pq

    other = pq.read_table(b)
    return pq.read_table(a, columns=other.column_names).equals(other)


def stored(storage_dir: Path) -> Path:
    """The latest stored version of training_frame (the versioned IO manager's layout)."""
    directory = storage_dir / "training_frame"
    return directory / (directory / "LATEST").read_text().strip()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", type=int, required=True)
    parser.add_argument("--feature-rows", type=int, required=True)
    parser.add_argument(
        "--drivers",
        type=int,
        default=10_000,
        help="Feast's stock store joins each label to all earlier rows of its driver, so its "
        "memory grows with feature rows per driver: with 1000 drivers it passed 20 GB at 1M x 1M",
    )
    parser.add_argument(
        "--feast-max-mb",
        type=float,
        default=12_000,
        help="kill Feast's store above this resident memory (MB) and report it as such",
    )
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--skip-feast-above",
        type=int,
        default=1_000_000,
        help="skip Feast's duckdb store when labels or feature rows exceed this (it needed "
        "16.5 GB at 3M x 3M and ran out of memory at 10M x 10M)",
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs of ours and duckdb_asof")
    parser.add_argument("--feast-repeat", type=int, default=1, help="runs of Feast's store")
    parser.add_argument("--ttl-days", type=int, default=36500, help="the feature view's ttl")
    parser.add_argument("--child", choices=["apply", "ours", "feast_duckdb", "duckdb_asof"])
    parser.add_argument("--data", type=Path)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)

    if args.child == "apply":
        return child_apply()
    if args.child in ("ours", "feast_duckdb"):
        return child_training_frame(preimport_feast=args.child == "feast_duckdb")
    if args.child == "duckdb_asof":
        return child_duckdb_asof(args.data, args.out, args.ttl_days)

    data = data_dir(args.labels, args.feature_rows, args.drivers, args.seed)
    run_root = BENCH_DIR / "runs" / data.name
    me = [str(Path(__file__).resolve()), "--labels", str(args.labels)]
    me += ["--feature-rows", str(args.feature_rows)]
    run_feast = max(args.labels, args.feature_rows) <= args.skip_feast_above

    envs = {"ours": project_copy(run_root / "ours", data)}
    if run_feast:
        envs["feast_duckdb"] = project_copy(run_root / "feast_duckdb", data, STOCK_STORE)
    for env in envs.values():
        run_child([*me, "--child", "apply"], env)
    outputs = {name: Path(env["TRAINING_STORAGE_DIR"]) for name, env in envs.items()}
    outputs["duckdb_asof"] = run_root / "duckdb_asof.parquet"
    asof = ["--child", "duckdb_asof", "--data", str(data), "--out", str(outputs["duckdb_asof"])]
    asof += ["--ttl-days", str(args.ttl_days)]

    runs: dict[str, list[dict]] = {name: [] for name in outputs}

    def run(name: str, argv: list[str], env: dict | None = None, limit: float | None = None):
        runs[name].append(run_child([*me, *argv], env, max_rss_mb=limit))
        print(f"{name}: {runs[name][-1]}", file=sys.stderr, flush=True)

    # Ours and the bare join alternate, so a busy spell on the machine hits both alike.
    for _ in range(args.repeat):
        run("ours", ["--child", "ours"], envs["ours"])
        run("duckdb_asof", asof)
    for _ in range(args.feast_repeat if run_feast else 0):
        run("feast_duckdb", ["--child", "feast_duckdb"], envs["feast_duckdb"], args.feast_max_mb)
        if "killed" in runs["feast_duckdb"][-1]:
            break

    finished = {name: [run for run in values if "seconds" in run] for name, values in runs.items()}

    def seconds(name: str) -> float | None:
        return median([run["seconds"] for run in finished[name]]) if finished.get(name) else None

    def peak(name: str) -> float | None:
        return max(run["peak_mb"] for run in runs[name]) if name in runs else None

    outputs |= {name: stored(outputs[name]) for name in envs}
    comparisons = {
        f"ours_vs_{other}": identical(outputs["ours"], outputs[other])
        for other in outputs
        if other != "ours" and finished.get(other)
    }
    ours_s, feast_s, asof_s = seconds("ours"), seconds("feast_duckdb"), seconds("duckdb_asof")
    summary = {
        "labels": args.labels,
        "feature_rows": args.feature_rows,
        "ours_s": ours_s,
        "ours_peak_mb": peak("ours"),
        "feast_duckdb_s": feast_s,
        "duckdb_asof_s": asof_s,
        "speedup_vs_feast": round(feast_s / ours_s, 1) if feast_s else None,
        "ratio_vs_asof": round(ours_s / asof_s, 2),
        "identical": all(comparisons.values()),
        "drivers": args.drivers,
        "feast_duckdb_peak_mb": peak("feast_duckdb"),
        "duckdb_asof_peak_mb": peak("duckdb_asof"),
        "ours_process_s": median([run["process_s"] for run in runs["ours"]]),
        "runs": {name: [run.get("seconds") for run in values] for name, values in runs.items()},
        "feast_duckdb_killed": next(
            (r["killed"] for r in runs.get("feast_duckdb", []) if "killed" in r), None
        ),
        "compared": comparisons,
        "cpus": os.cpu_count(),
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
