"""Time the Spark profile (TRAINING_ENGINE=spark) against the DuckDB profile: the training
frame and the whole graph, on `local[2]` and on a real 2-worker standalone cluster.

    .venv/bin/python benchmarks/spark.py --labels 1000000 10000000

For each size and engine (`duckdb`, `local` = Spark on local[2], `cluster` = Spark on a
master + 2 workers of 1 core each, started here as separate JVMs and stopped at the end):
- frame: `dg.materialize` of `training_frame` in a process of its own, after its imports and
  (Spark) after the session started (`session_s`, reported apart): the point-in-time join,
  the input checks, the profile, the dataset written and published;
- graph: `dagster asset materialize --select '*' -m training_assets.definitions` (what
  `make run` does) on the project copy the frame step left (registry applied), as a whole
  process (interpreter, imports, session start included);
- the Spark frame compared with the DuckDB frame of the same size (a multiset difference
  both ways in DuckDB, plus the column types), and the registered Spark model's
  coefficients with scikit-learn's converged fit on its stored train set.
Peak memory and CPU of the graph are sampled every 0.5 s over the run's process tree (in local
mode the driver JVM holds the executors) and, on the cluster, the master's and workers' trees
(the executor JVMs are the workers' children); the frame step's peak is its Python process's.
Sample data is the project's generator's (seed 42), cached under var/bench/. The last line
printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
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
    project_copy,
    report,
    run_child,
    timed,
)

ENGINES = ("duckdb", "local", "cluster")


def child_apply() -> None:
    """Materialize `feast_registry` (feast apply) so the timed steps can load it."""
    import dagster as dg

    from training_assets.assets.features import feast_registry
    from training_assets.resources.build import build_resources

    assert dg.materialize([feast_registry], resources=build_resources()).success
    report({})


def child_frame(engine: str) -> None:
    import dagster as dg

    from training_assets.definitions import engine_assets
    from training_assets.resources.build import build_resources

    resources = build_resources()
    assets = engine_assets("spark" if engine != "duckdb" else "duckdb")
    dg.DagsterInstance.ephemeral()  # run-storage imports, before the clock
    result: dict = {}
    if engine != "duckdb":
        with timed(result, "session_s"):
            resources["spark"].session()
    with timed(result):
        outcome = dg.materialize(assets, selection=["training_frame"], resources=resources)
    assert outcome.success
    [materialization] = outcome.asset_materializations_for_node("training_frame")
    result["rows"] = materialization.metadata["dagster/row_count"].value
    report(result)


def child_compare(ours: Path, expected: Path) -> None:
    """Rows of each stored frame missing from the other (as multisets), and the types."""
    import duckdb
    import pyarrow.parquet as pq

    from training_assets.io_managers.files import dataset_files, parquet_source
    from training_assets.schema import TRAINING_FRAME_COLUMNS

    columns = ", ".join(f'"{c}"' for c in TRAINING_FRAME_COLUMNS)
    con = duckdb.connect()
    con.execute("SET memory_limit = '4GB'")

    def rows(path: Path) -> str:
        return f"SELECT {columns} FROM read_parquet('{parquet_source(path)}')"

    only = {}
    for name, a, b in (("only_in_spark", ours, expected), ("only_in_duckdb", expected, ours)):
        sql = f"SELECT count(*) FROM ({rows(a)} EXCEPT ALL {rows(b)})"
        only[name] = con.execute(sql).fetchone()[0]

    def types(path: Path) -> dict[str, str]:
        schema = pq.read_schema(dataset_files(path)[0])
        return {name: str(schema.field(name).type) for name in TRAINING_FRAME_COLUMNS}

    report({**only, "same_types": types(ours) == types(expected), "types": types(ours)})


def child_coefficients(train: Path, params: dict, model_uri: str) -> None:
    """The registered (served) model's coefficients against scikit-learn's ElasticNet,
    converged, on the stored train set, streamed (`fit`'s model: domain/training.py)."""
    import mlflow
    import numpy as np

    from training_assets.domain.training import GRAM, fit_elastic_net
    from training_assets.resources.build import build_resources

    tracking = build_resources()["mlflow_tracking"].tracking_uri
    mlflow.set_tracking_uri(tracking)
    mlflow.set_registry_uri(tracking)
    served = mlflow.sklearn.load_model(model_uri)
    tight = {**params, "tol": 1e-12, "max_iter": 1_000_000}
    reference = fit_elastic_net(str(train), tight, GRAM)
    report(
        {
            "coef_max_abs_diff": float(np.max(np.abs(served.coef_ - reference.coef_))),
            "intercept_abs_diff": abs(float(served.intercept_) - float(reference.intercept_)),
        }
    )


def stored(env: dict[str, str], asset: str) -> Path:
    """The latest stored version of `asset` (SPARK_SHARED_DIR is the storage here)."""
    directory = Path(env["TRAINING_STORAGE_DIR"]) / asset
    return directory / (directory / "LATEST").read_text().strip()


def latest_json(env: dict[str, str], asset: str) -> dict:
    return json.loads(stored(env, asset).read_text())


def run_graph(env: dict[str, str], cluster_pids: tuple[int, ...] = ()) -> dict:
    """One `dagster asset materialize` of everything, sampled while it runs: the run's
    process tree (in local mode the driver JVM holds the executors) plus, on the cluster,
    the master's and workers' trees (the executor JVMs are the workers' children)."""
    dagster = Path(sys.executable).with_name("dagster")
    command = [str(dagster), "asset", "materialize", "--select", "*"]
    command += ["-m", "training_assets.definitions"]
    with tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        process = subprocess.Popen(
            command,
            cwd=PROJECT_DIR,
            env={**os.environ, **env},
            stdout=subprocess.DEVNULL,
            stderr=err,
            text=True,
        )
        with TreeSampler(process.pid, *cluster_pids, every=0.5) as sampler:
            process.wait()
            seconds = time.perf_counter() - started
        err.seek(0)
        stderr = err.read()
    samples = [(cpu, rss) for _, cpu, rss in sampler.samples]
    if process.returncode != 0:
        raise RuntimeError(f"graph materialization failed:\n{stderr[-4000:]}")
    metrics = latest_json(env, "model_metrics")
    return {
        "seconds": round(seconds, 2),
        "peak_mb": round(max(rss for _, rss in samples), 1),
        # CPU of the sampled trees over the run (the last sample before the run exited).
        "cpu_s": round(max(cpu for cpu, _ in samples) - samples[0][0], 2),
        "rmse": metrics["rmse"],
        "mae": metrics["mae"],
    }


def spark_env(engine: str, master: str | None, args: argparse.Namespace) -> dict[str, str]:
    if engine == "duckdb":
        return {"TRAINING_ENGINE": "duckdb"}
    if engine == "local":
        # Executors live in the driver JVM: it gets their memory.
        return {
            "TRAINING_ENGINE": "spark",
            "SPARK_MASTER": "local[2]",
            "SPARK_DRIVER_MEMORY": args.local_driver_memory,
        }
    return {
        "TRAINING_ENGINE": "spark",
        "SPARK_MASTER": master or "",
        "SPARK_DRIVER_MEMORY": args.driver_memory,
        "SPARK_EXECUTOR_MEMORY": args.executor_memory,
        "SPARK_EXECUTOR_CORES": "1",
        "SPARK_CORES_MAX": "2",
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--drivers", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--engines", nargs="+", choices=ENGINES, default=list(ENGINES))
    parser.add_argument("--no-graph", action="store_true", help="time the frame only")
    parser.add_argument("--local-driver-memory", default="4g")
    parser.add_argument("--driver-memory", default="2g")
    parser.add_argument("--executor-memory", default="2g")
    parser.add_argument("--worker-memory", default="2g")
    parser.add_argument("--child", choices=["apply", "frame", "compare", "coefficients"])
    parser.add_argument("--engine", choices=ENGINES)
    parser.add_argument("--a", type=Path)
    parser.add_argument("--b", type=Path)
    parser.add_argument("--model", type=str)
    args = parser.parse_args(argv)
    if args.child == "apply":
        return child_apply()
    if args.child == "frame":
        return child_frame(args.engine)
    if args.child == "compare":
        return child_compare(args.a, args.b)
    if args.child == "coefficients":
        model = json.loads(args.model)
        return child_coefficients(args.a, model["params"], model["uri"])

    me = [str(Path(__file__).resolve())]
    cluster = None
    if "cluster" in args.engines:
        from training_assets.spark.cluster import StandaloneCluster

        cluster = StandaloneCluster(workers=2, worker_cores=1, worker_memory=args.worker_memory)
        cluster.start()
        print(f"cluster {cluster.master_url} up in {cluster.start_seconds:.1f} s", file=sys.stderr)
    results: list[dict] = []
    try:
        for labels in args.labels:
            data = data_dir(labels, labels, args.drivers, args.seed)
            frames: dict[str, Path] = {}
            for engine in args.engines:
                root = BENCH_DIR / "spark" / data.name / engine
                shutil.rmtree(root, ignore_errors=True)
                env = project_copy(root, data)
                shutil.copy(PROJECT_DIR / "dagster.yaml", root / "dagster_home" / "dagster.yaml")
                env |= spark_env(engine, cluster.master_url if cluster else None, args)
                run_child([*me, "--child", "apply"], env)
                frame = run_child([*me, "--child", "frame", "--engine", engine], env)
                print(f"{labels} {engine} frame: {frame}", file=sys.stderr, flush=True)
                frames[engine] = stored(env, "training_frame")
                row = {"labels": labels, "engine": engine, "master": env.get("SPARK_MASTER")}
                row |= {
                    "frame_s": frame["seconds"],
                    "frame_process_s": frame["process_s"],
                    "frame_peak_mb": frame["peak_mb"],
                    "session_s": frame.get("session_s"),
                    "rows": frame["rows"],
                }
                if not args.no_graph:
                    pids = ()
                    if engine == "cluster" and cluster is not None:
                        pids = (cluster.master.pid, *(w.pid for w in cluster.worker_daemons))
                    graph = run_graph(env, pids)
                    print(f"{labels} {engine} graph: {graph}", file=sys.stderr, flush=True)
                    row |= {f"graph_{key}": value for key, value in graph.items()}
                    if engine != "duckdb":
                        model = latest_json(env, "model")
                        registered = latest_json(env, "registered_model_version")
                        check = [*me, "--child", "coefficients"]
                        check += ["--a", str(stored(env, "train_set"))]
                        served = {"params": model["params"], "uri": registered["model_uri"]}
                        check += ["--model", json.dumps(served)]
                        row |= {k: v for k, v in run_child(check, env).items() if "diff" in k}
                results.append(row)
            if "duckdb" in frames:
                for engine in frames.keys() - {"duckdb"}:
                    compare = [*me, "--child", "compare", "--a", str(frames[engine])]
                    compare += ["--b", str(frames["duckdb"])]
                    same = run_child(compare)
                    print(f"{labels} {engine} vs duckdb: {same}", file=sys.stderr, flush=True)
                    for row in results:
                        if row["labels"] == labels and row["engine"] == engine:
                            row |= {
                                "only_in_spark": same["only_in_spark"],
                                "only_in_duckdb": same["only_in_duckdb"],
                                "same_types": same["same_types"],
                            }
    finally:
        if cluster is not None:
            cluster.stop()
    for labels in args.labels:
        duck = next((r for r in results if r["labels"] == labels and r["engine"] == "duckdb"), None)
        for row in results:
            if duck and row["labels"] == labels and row["engine"] != "duckdb":
                row["frame_vs_duckdb"] = round(row["frame_s"] / duck["frame_s"], 2)
                if "graph_seconds" in row and "graph_seconds" in duck:
                    row["graph_vs_duckdb"] = round(row["graph_seconds"] / duck["graph_seconds"], 2)
    print(json.dumps({"runs": results, "drivers": args.drivers, "cpus": os.cpu_count()}))


if __name__ == "__main__":
    main()
