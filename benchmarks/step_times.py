"""Where a Dagster run's time went: per-step wall time from the run's event log.

    DAGSTER_HOME=var/bench/graph/<data>/dagster_home .venv/bin/python benchmarks/step_times.py

Prints, for the latest run (or `--run-id`), each step's start offset and duration (STEP_START
to STEP_SUCCESS/FAILURE/SKIPPED), the time before the first step (run start: code location
load, resource init) and after the last one, sorted by start. With `--samples` (a JSON list of
[epoch seconds, CPU seconds, resident MB] of the run's process tree, as benchmarks/graph.py
samples it), also each step's CPU seconds and peak resident memory, and the same for the time
before the first step. Runs use the in-process executor, so one process does every step.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def _usage(samples: list[list[float]], start: float, end: float) -> dict[str, float]:
    """CPU seconds and peak MB of the samples between two epoch times (the sample just before
    `start` is the CPU baseline; the peak includes the sample just after `end`, since the
    step's memory is still held until it is released)."""
    before = [s for s in samples if s[0] <= start] or samples[:1]
    during = [s for s in samples if start <= s[0] <= end]
    after = [s for s in samples if s[0] > end][:1]
    cpu_end = (during or before)[-1][1] if not after else after[0][1]
    return {
        "cpu_s": round(max(0.0, cpu_end - before[-1][1]), 2),
        "peak_mb": round(max(s[2] for s in [*before[-1:], *during, *after]), 1),
    }


def step_times(run_id: str | None = None, samples: list[list[float]] | None = None) -> dict:
    import dagster as dg

    instance = dg.DagsterInstance.get()
    if run_id is None:
        run_id = instance.get_runs(limit=1)[0].run_id
    records = instance.all_logs(run_id)
    start = records[0].timestamp
    epochs: dict[str, tuple[float, float]] = {}
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
        if "start" in step and "end" in step:
            epochs[event.step_key] = (start + step["start"], start + step["end"])
    rows = sorted(
        (
            {
                "step": key,
                "start_s": round(value.get("start", value.get("end", 0.0)), 2),
                "duration_s": round(value.get("end", 0.0) - value.get("start", 0.0), 2),
                **(_usage(samples, *epochs[key]) if samples and key in epochs else {}),
            }
            for key, value in steps.items()
        ),
        key=lambda row: row["start_s"],
    )
    first = min((row["start_s"] for row in rows), default=0.0)
    last = max((value.get("end", 0.0) for value in steps.values()), default=0.0)
    before = {}
    if samples:
        # From the process's start (the first sample), not the run's: imports and code
        # location load happen before Dagster records the run starting.
        before = {
            f"before_first_step_{k}": v
            for k, v in _usage(samples, samples[0][0], start + first).items()
        }
    return {
        "run_id": run_id,
        **before,
        "run_s": round(end - start, 2),
        "before_first_step_s": round(first, 2),
        "after_last_step_s": round(end - start - last, 2),
        "steps": rows,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-id")
    parser.add_argument("--samples", type=Path, help="process-tree samples (graph.py)")
    args = parser.parse_args()
    samples = json.loads(args.samples.read_text()) if args.samples else None
    result = step_times(args.run_id, samples)
    print("   start    wall     cpu    peak MB  step")
    for row in result["steps"]:
        print(
            f"{row['start_s']:8.2f} {row['duration_s']:7.2f} {row.get('cpu_s', float('nan')):7.2f}"
            f" {row.get('peak_mb', float('nan')):10.1f}  {row['step']}"
        )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
