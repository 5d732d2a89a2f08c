"""Where a Dagster run's time went: per-step wall time from the run's event log.

    DAGSTER_HOME=var/bench/graph/<data>/dagster_home .venv/bin/python benchmarks/step_times.py

Prints, for the latest run (or `--run-id`), each step's start offset and duration (STEP_START
to STEP_SUCCESS/FAILURE/SKIPPED), the time before the first step (run start: code location
load, resource init) and after the last one, sorted by start.
"""

from __future__ import annotations

import argparse
import json


def step_times(run_id: str | None = None) -> dict:
    import dagster as dg

    instance = dg.DagsterInstance.get()
    if run_id is None:
        run_id = instance.get_runs(limit=1)[0].run_id
    records = instance.all_logs(run_id)
    start = records[0].timestamp
    end = records[-1].timestamp
    steps: dict[str, dict[str, float]] = {}
    for record in records:
        event = record.dagster_event
        if event is None or event.step_key is None:
            continue
        step = steps.setdefault(event.step_key, {})
        kind = event.event_type_value
        if kind == "STEP_START":
            step["start"] = record.timestamp - start
        elif kind in ("STEP_SUCCESS", "STEP_FAILURE", "STEP_SKIPPED"):
            step["end"] = record.timestamp - start
    rows = sorted(
        (
            {
                "step": key,
                "start_s": round(value.get("start", value.get("end", 0.0)), 2),
                "duration_s": round(value.get("end", 0.0) - value.get("start", 0.0), 2),
            }
            for key, value in steps.items()
        ),
        key=lambda row: row["start_s"],
    )
    first = min((row["start_s"] for row in rows), default=0.0)
    last = max((value.get("end", 0.0) for value in steps.values()), default=0.0)
    return {
        "run_id": run_id,
        "run_s": round(end - start, 2),
        "before_first_step_s": round(first, 2),
        "after_last_step_s": round(end - start - last, 2),
        "steps": rows,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-id")
    args = parser.parse_args()
    result = step_times(args.run_id)
    for row in result["steps"]:
        print(f"{row['start_s']:8.2f} {row['duration_s']:7.2f}  {row['step']}")
    print(json.dumps({k: v for k, v in result.items() if k != "steps"}))


if __name__ == "__main__":
    main()
