"""How long the data validation takes: every data check on a training frame of N rows.

    .venv/bin/python benchmarks/validation.py --rows 100000 1000000

For each size: sample data from the project's generator (N feature rows of N/1000
drivers, at least 100, and N labelled orders), the training frame built from it (as-of
values), then each check's validation timed on its own (the same functions the asset checks
call, GX in an ephemeral context, results written to a temporary directory). The Great
Expectations import (paid once per process) is reported separately. Prints a table per size;
the last line is JSON.
Not a test: the figures depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pyarrow.parquet as pq

from training_assets.checks.data_checks import frame_checks as FRAME_CHECKS
from training_assets.domain.validation import drift
from training_assets.domain.validation import split_validation as split_checks
from training_assets.domain.validation.leakage import FeatureSource, with_as_of_features
from training_assets.resources.data_validation import DataValidationResource
from training_assets.sample_data import (
    SampleSize,
    driver_orders_table,
    driver_stats_table,
)
from training_assets.schema import AS_OF_SUFFIX, FEATURES, SPLIT_COLUMNS, TRAINING_FRAME_COLUMNS
from training_assets_tests.support.feature_source import registry_for


def timed(function: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    value = function()
    return time.perf_counter() - start, value


def bench(rows: int, workdir: Path) -> dict[str, Any]:
    # One feature row per driver and hour: 1,000 hours at most, so no order is in the future.
    size = SampleSize(drivers=max(100, rows // 1000), feature_rows=rows, labels=rows, seed=1)
    source = workdir / f"driver_stats_{rows}.parquet"
    pq.write_table(driver_stats_table(size), source)
    registry = registry_for(source, ttl_seconds=36500 * 86400.0)
    labels = driver_orders_table(size).to_pandas()
    as_of = with_as_of_features(
        labels.assign(**{name: 0.0 for name in FEATURES}), FeatureSource.from_registry(registry)
    )
    frame = labels.assign(**{name: as_of[name + AS_OF_SUFFIX].to_numpy() for name in FEATURES})
    frame = frame.astype(
        {"conv_rate": "float32", "acc_rate": "float32", "avg_daily_trips": "int32"}
    )
    frame = frame[list(TRAINING_FRAME_COLUMNS)]
    settings = DataValidationResource(result_dir=str(workdir / f"validation_{rows}"))

    seconds: dict[str, float] = {}
    verdicts: dict[str, bool] = {}
    for check in FRAME_CHECKS:
        name = check.check_key.name
        seconds[name], result = timed(
            lambda check=check: check(
                training_frame=frame, feast_registry=registry, data_validation=settings
            )
        )
        verdicts[name] = result.passed

    def drift_check() -> dict[str, Any]:
        # The work of the drift_baseline asset (a profile) and of the check (a comparison).
        baseline = drift.baseline(frame, FEATURES, settings.drift_bins)
        return drift.compare(baseline, frame, settings.drift_max_psi)

    seconds["training_frame_drift"], figures = timed(drift_check)
    verdicts["training_frame_drift"] = not any(item["drifted"] for item in figures.values())
    from sklearn.model_selection import train_test_split

    train, test = (
        part.reset_index(drop=True)
        for part in train_test_split(frame[list(SPLIT_COLUMNS)], test_size=0.2, random_state=17)
    )
    split_work = {
        "train_test_split_partition": lambda: split_checks.validate_partition(
            frame, train, test, settings
        )[0],
        "train_test_split_ratio": lambda: split_checks.validate_ratio(train, test, 0.2, settings),
        "train_set_label_classes": lambda: split_checks.validate_classes(
            "train_set", train, settings
        ),
        "test_set_label_classes": lambda: split_checks.validate_classes("test_set", test, settings),
    }
    for name, work in split_work.items():
        seconds[name], outcome = timed(work)
        verdicts[name] = outcome.success
    frame_total = sum(v for k, v in seconds.items() if k.startswith("training_frame"))
    return {
        "rows": rows,
        "seconds": {name: round(value, 3) for name, value in seconds.items()},
        "passed": verdicts,
        "training_frame_checks_s": round(frame_total, 2),
        "all_checks_s": round(sum(seconds.values()), 2),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    args = parser.parse_args(argv)

    import_seconds, _ = timed(lambda: __import__("great_expectations"))
    print(f"great_expectations import: {import_seconds:.1f} s (once per process)")
    results = []
    with tempfile.TemporaryDirectory(prefix="validation-bench-") as workdir:
        for rows in args.rows:
            result = bench(rows, Path(workdir))
            results.append(result)
            print(f"\n{rows:,} rows")
            for name, value in result["seconds"].items():
                verdict = "pass" if result["passed"].get(name, True) else "FAIL"
                print(f"  {name:32s} {value:8.2f} s  {verdict}")
            print(f"  {'training_frame checks':32s} {result['training_frame_checks_s']:8.2f} s")
            print(f"  {'all data checks':32s} {result['all_checks_s']:8.2f} s")
    print(json.dumps({"gx_import_s": round(import_seconds, 2), "results": results}))


if __name__ == "__main__":
    main()
