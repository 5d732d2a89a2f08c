"""How long a run takes to fail when the MLflow tracking server is down.

    .venv/bin/python benchmarks/mlflow_outage.py [--connect-attempts N] [--step-retries N]
                                                 [--retry-delay S]

Runs `dagster asset materialize --select '*model_metrics'` on a fresh project copy (sample
data: 400 labels) with MLFLOW_TRACKING_URI at a closed port on 127.0.0.1 and the MLflow
retry settings given (unset: the settings' defaults). From the run's event log: the `model`
step's attempts, the waits Dagster was asked for, and the seconds from the step's first start
to its final failure (the step's imports of MLflow and scikit-learn included); the CLI
process's wall time too. The last line printed is one JSON object.

The tests assert the behaviour (attempts, retry events, the error: faults/test_mlflow_outage.py
and resources/test_mlflow_tracking.py); this measures the time it takes.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import BENCH_DIR, PROJECT_DIR, data_dir, project_copy
from training_assets_tests.support.processes import free_port


def model_step_timeline(home: Path) -> dict:
    import dagster as dg
    from dagster._core.instance.ref import InstanceRef

    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home))) as instance:
        run = instance.get_runs(limit=1)[0]
        events = [
            entry
            for entry in instance.all_logs(run.run_id)
            if entry.dagster_event is not None and entry.step_key == "model"
        ]
    kinds = [entry.dagster_event.event_type_value for entry in events]
    start = next(e.timestamp for e in events if e.dagster_event.event_type_value == "STEP_START")
    return {
        "step_attempts": kinds.count("STEP_START") + kinds.count("STEP_RESTARTED"),
        "retry_waits_s": [
            e.dagster_event.event_specific_data.seconds_to_wait
            for e in events
            if e.dagster_event.event_type_value == "STEP_UP_FOR_RETRY"
        ],
        "outcome": kinds[-1],
        "first_start_to_failure_s": round(events[-1].timestamp - start, 2),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connect-attempts", type=int)
    parser.add_argument("--step-retries", type=int)
    parser.add_argument("--retry-delay", type=float)
    args = parser.parse_args(argv)

    data = data_dir(labels=400, feature_rows=1_000, drivers=10, seed=7)
    root = BENCH_DIR / "mlflow_outage"
    shutil.rmtree(root, ignore_errors=True)
    env = {**os.environ, **project_copy(root, data)}
    env["MLFLOW_TRACKING_URI"] = f"http://127.0.0.1:{free_port()}"
    settings = {
        "MLFLOW_CONNECT_ATTEMPTS": args.connect_attempts,
        "MLFLOW_STEP_RETRIES": args.step_retries,
        "MLFLOW_RETRY_DELAY_SECONDS": args.retry_delay,
    }
    env.update({name: str(value) for name, value in settings.items() if value is not None})

    dagster = Path(sys.executable).with_name("dagster")
    command = [str(dagster), "asset", "materialize", "--select", "*model_metrics"]
    started = time.perf_counter()
    result = subprocess.run(
        [*command, "-m", "training_assets.definitions"],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - started
    if result.returncode == 0:
        raise RuntimeError("the run succeeded although no MLflow server answers")
    print(
        json.dumps(
            {
                "settings": {k: v for k, v in settings.items() if v is not None} or "defaults",
                **model_step_timeline(Path(env["DAGSTER_HOME"])),
                "cli_process_s": round(wall, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
