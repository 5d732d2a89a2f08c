"""Time the whole asset graph against a bare single-process script doing the same work.

    .venv/bin/python benchmarks/graph.py --labels 1000000

- graph: `dagster asset materialize --select '*' -m training_assets.definitions` (what
  `make run` does): code location load, feast apply (skipped when the feature repo is
  unchanged), the training frame, every check, split, fit, MLflow logging, evaluation,
  registration. One untimed-for-the-ratio first run on a fresh project copy (`graph_first_s`:
  registry applied, MLflow store created), then --repeat runs on that copy (`graph_s`), as
  every `make run` after the first;
- bare:  one Python process that reads the labels and features, joins them (a DuckDB ASOF
  JOIN), splits (scikit-learn, same seed), fits the same ElasticNet and computes RMSE/MAE.
Both are timed as whole processes (interpreter start and imports included), the median of
--repeat runs, interleaved. Peak memory is the process tree's largest RSS. The last line
printed is one JSON object; `identical` says whether both got the same RMSE and MAE.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import (
    BENCH_DIR,
    PROJECT_DIR,
    TreeSampler,
    data_dir,
    median,
    project_copy,
    project_environment,
    report,
    run_child,
)


def child_bare(data: Path, style: str) -> None:
    """The bare script: everything inside this function is timed (imports included).

    `pandas` (the default, the baseline of every earlier figure): DuckDB reads the CSV and
    hands the joined frame to pandas (`.df()`). It cannot hold 100M rows in 24 GB (killed
    at 14 GB). `arrow`: the same join and the same scikit-learn calls, but the labels read
    by pyarrow, DuckDB capped at 2 GB and spilling, the result fetched as Arrow and only
    the split columns handed to pandas: 13.7 GB peak at 100M."""
    start = time.perf_counter()
    import duckdb
    from sklearn.linear_model import ElasticNet
    from sklearn.metrics import mean_absolute_error, root_mean_squared_error
    from sklearn.model_selection import train_test_split

    features_sql = str(data / "driver_stats.parquet").replace("'", "''")
    labels_sql = str(data / "driver_orders.csv").replace("'", "''")
    columns = (
        "{'event_timestamp': 'TIMESTAMPTZ', 'driver_id': 'BIGINT', 'trip_completed': 'BIGINT'}"
    )
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    labels = f"read_csv('{labels_sql}', delim = '\t', header = true, columns = {columns})"
    if style == "arrow":
        import pyarrow as pa
        import pyarrow.csv as pa_csv

        types = {
            "event_timestamp": pa.timestamp("us", tz="UTC"),
            "driver_id": pa.int64(),
            "trip_completed": pa.int64(),
        }
        table = pa_csv.read_csv(
            data / "driver_orders.csv",
            parse_options=pa_csv.ParseOptions(delimiter="\t"),
            convert_options=pa_csv.ConvertOptions(column_types=types),
        )
        con.execute("SET memory_limit = '2GB'")
        con.register("labels", table)
        labels = "labels"
    joined = con.sql(
        f"""
        SELECT l.event_timestamp, l.driver_id, l.trip_completed,
               f.conv_rate, f.acc_rate, f.avg_daily_trips
        FROM {labels} AS l
        ASOF LEFT JOIN (
          SELECT * FROM read_parquet('{features_sql}')
          QUALIFY row_number() OVER (PARTITION BY driver_id, datetime ORDER BY created DESC) = 1
        ) AS f
        ON l.driver_id = f.driver_id AND l.event_timestamp >= f.datetime
        ORDER BY l.event_timestamp, l.driver_id, l.trip_completed
        """
    )
    features = ["conv_rate", "acc_rate", "avg_daily_trips"]
    if style == "arrow":
        result = joined.to_arrow_table().select([*features, "trip_completed"])
        con.close()
        frame = result.to_pandas(self_destruct=True, split_blocks=True)
        del result, table
    else:
        frame = joined.df()
    train, test = train_test_split(
        frame[[*features, "trip_completed"]], test_size=0.2, random_state=17
    )
    model = ElasticNet(alpha=0.5, l1_ratio=0.1, random_state=17)
    model.fit(train[features], train["trip_completed"])
    predictions = model.predict(test[features])
    metrics = {
        "rmse": float(root_mean_squared_error(test["trip_completed"], predictions)),
        "mae": float(mean_absolute_error(test["trip_completed"], predictions)),
    }
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu = usage.ru_utime + usage.ru_stime  # interpreter start and imports included
    report({"seconds": round(time.perf_counter() - start, 3), "cpu_s": round(cpu, 2), **metrics})


def run_graph(root: Path, data: Path, fresh: bool) -> dict:
    """One `dagster asset materialize` of everything, on a fresh project copy or (`fresh`
    False) on the copy the previous run left: applied Feast registry, MLflow store with a
    champion, Dagster history, as every `make run` after the first finds them."""
    if fresh:
        shutil.rmtree(root, ignore_errors=True)
        project_copy(root, data)
        shutil.copy(PROJECT_DIR / "dagster.yaml", root / "dagster_home" / "dagster.yaml")
    env = {**os.environ, **project_environment(root, data)}
    dagster = Path(sys.executable).with_name("dagster")
    command = ["/usr/bin/time", "-f", "TIME %e %M %U %S", str(dagster), "asset", "materialize"]
    command += ["--select", "*", "-m", "training_assets.definitions"]
    start = time.perf_counter()
    with tempfile.TemporaryFile("w+") as err:
        child = subprocess.Popen(
            command, cwd=PROJECT_DIR, env=env, stdout=subprocess.DEVNULL, stderr=err, text=True
        )
        with TreeSampler(child.pid) as sampler:
            child.wait()
        seconds = time.perf_counter() - start
        err.seek(0)
        stderr = err.read()
    if child.returncode != 0:
        raise RuntimeError(f"graph materialization failed:\n{stderr[-4000:]}")
    timing = [line for line in stderr.splitlines() if line.startswith("TIME ")][-1]
    samples = root / "samples.json"
    samples.write_text(json.dumps(sampler.samples))
    steps = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("step_times.py")), "--samples", str(samples)],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    print(steps.stdout, file=sys.stderr, flush=True)
    stored = Path(env["TRAINING_STORAGE_DIR"]) / "model_metrics"
    metrics = json.loads((stored / (stored / "LATEST").read_text().strip()).read_text())
    return {
        "seconds": round(seconds, 3),
        "peak_mb": round(int(timing.split()[2]) / 1024, 1),
        # CPU seconds of the process tree (feast apply's child included): far less
        # sensitive than wall time to the other jobs on a shared machine.
        "cpu_s": round(float(timing.split()[3]) + float(timing.split()[4]), 2),
        "rmse": metrics["rmse"],
        "mae": metrics["mae"],
        "steps": json.loads(steps.stdout.splitlines()[-1])["steps"],
    }


def _brief(run: dict) -> dict:
    return {key: value for key, value in run.items() if key != "steps"}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", type=int, required=True)
    parser.add_argument("--feature-rows", type=int, help="default: as many as labels")
    parser.add_argument("--drivers", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--bare",
        choices=["pandas", "arrow"],
        default="pandas",
        help="the bare script's style (arrow: the one that fits 100M rows; see child_bare)",
    )
    parser.add_argument("--child", choices=["bare"])
    parser.add_argument("--data", type=Path)
    args = parser.parse_args(argv)
    if args.child == "bare":
        return child_bare(args.data, args.bare)

    feature_rows = args.feature_rows or args.labels
    data = data_dir(args.labels, feature_rows, args.drivers, args.seed)
    root = BENCH_DIR / "graph" / data.name
    runs: dict[str, list[dict]] = {"graph": [], "bare": []}
    first = run_graph(root, data, fresh=True)
    print(f"graph, first run on a fresh copy: {_brief(first)}", file=sys.stderr, flush=True)
    for _ in range(args.repeat):
        runs["graph"].append(run_graph(root, data, fresh=False))
        print(f"graph: {_brief(runs['graph'][-1])}", file=sys.stderr, flush=True)
        bare = [str(Path(__file__).resolve()), "--labels", str(args.labels)]
        bare += ["--child", "bare", "--data", str(data), "--bare", args.bare]
        runs["bare"].append(run_child(bare))
        print(f"bare: {runs['bare'][-1]}", file=sys.stderr, flush=True)

    graph_s = median([run["seconds"] for run in runs["graph"]])
    # The bare script's own clock starts before its imports; its process time adds only
    # the interpreter start, so take the process time, like the graph's.
    bare_s = median([run["process_s"] for run in runs["bare"]])
    same = all(
        abs(g[key] - b[key]) <= 1e-9 * max(1.0, abs(b[key]))
        for g, b in zip([first, *runs["graph"]], runs["bare"] * 2, strict=False)
        for key in ("rmse", "mae")
    )
    summary = {
        "labels": args.labels,
        "feature_rows": feature_rows,
        "graph_s": graph_s,
        "graph_peak_mb": max(run["peak_mb"] for run in runs["graph"]),
        "bare_s": bare_s,
        "bare_peak_mb": max(run["peak_mb"] for run in runs["bare"]),
        "ratio_vs_bare": round(graph_s / bare_s, 2),
        "graph_cpu_s": median([run["cpu_s"] for run in runs["graph"]]),
        "bare_cpu_s": median([run["cpu_s"] for run in runs["bare"]]),
        "graph_first_s": first["seconds"],
        "first_ratio_vs_bare": round(first["seconds"] / bare_s, 2),
        "cpu_ratio_vs_bare": round(
            median([run["cpu_s"] for run in runs["graph"]])
            / median([run["cpu_s"] for run in runs["bare"]]),
            2,
        ),
        "identical": same,
        "rmse": runs["bare"][-1]["rmse"],
        "mae": runs["bare"][-1]["mae"],
        "runs": {
            name: [run.get("process_s", run["seconds"]) for run in v] for name, v in runs.items()
        },
        # Wall, CPU and peak of each step in the last graph run (step_times.py).
        "steps": runs["graph"][-1]["steps"],
        "drivers": args.drivers,
        "bare_style": args.bare,
        "cpus": os.cpu_count(),
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
