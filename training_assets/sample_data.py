"""Deterministic sample data: driver statistics (the Feast source) and labelled driver orders.

Each driver has a hidden reliability. The features are noisy hourly measurements of it and
the probability that an order ends in a completed trip rises steeply with it, so a model
trained on the features really learns something. The same seed and sizes give the same files.

    python -m training_assets.sample_data --out-dir data --drivers 20 \
        --feature-rows 5000 --labels 2000
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

FEATURES_FILE = "driver_stats.parquet"
LABELS_FILE = "driver_orders.csv"
START = datetime(2026, 1, 1, tzinfo=UTC)
FIRST_DRIVER_ID = 1001
_US_PER_HOUR = 3_600_000_000


@dataclass(frozen=True)
class SampleSize:
    drivers: int = 20
    feature_rows: int = 5_000
    labels: int = 2_000
    seed: int = 42


def _driver_reliability(rng: np.random.Generator, drivers: int) -> np.ndarray:
    # Two populations (reliable and unreliable drivers) with some in between.
    reliable = rng.random(drivers) < 0.5
    return np.where(reliable, rng.beta(12, 2, drivers), rng.beta(2, 12, drivers))


def driver_stats_table(size: SampleSize) -> pa.Table:
    """Hourly feature rows, spread evenly over the drivers, in time order per driver."""
    rng = np.random.default_rng(size.seed)
    reliability = _driver_reliability(rng, size.drivers)
    driver_index = np.arange(size.feature_rows) % size.drivers
    hour = np.arange(size.feature_rows) // size.drivers
    jitter_us = rng.integers(0, 50 * 60 * 1_000_000, size.feature_rows)
    start_us = int(START.timestamp() * 1_000_000)
    event_us = start_us + hour * _US_PER_HOUR + jitter_us
    created_us = event_us + rng.integers(60_000_000, 600_000_000, size.feature_rows)

    quality = reliability[driver_index]
    conv_rate = np.clip(quality + rng.normal(0, 0.05, size.feature_rows), 0, 1)
    acc_rate = np.clip(0.4 + 0.5 * quality + rng.normal(0, 0.05, size.feature_rows), 0, 1)
    trips = np.clip(np.rint(50 + 900 * quality + rng.normal(0, 40, size.feature_rows)), 0, None)

    utc_us = pa.timestamp("us", tz="UTC")
    return pa.table(
        {
            "driver_id": pa.array(FIRST_DRIVER_ID + driver_index, pa.int64()),
            "datetime": pa.array(event_us, utc_us),
            "created": pa.array(created_us, utc_us),
            "conv_rate": pa.array(conv_rate, pa.float32()),
            "acc_rate": pa.array(acc_rate, pa.float32()),
            "avg_daily_trips": pa.array(trips, pa.int32()),
        }
    )


def driver_orders_table(size: SampleSize) -> pa.Table:
    """Labelled orders, each after its driver's first feature row and inside the feature span."""
    rng = np.random.default_rng(size.seed)
    reliability = _driver_reliability(rng, size.drivers)
    label_rng = np.random.default_rng(size.seed + 1)
    driver_index = label_rng.integers(0, size.drivers, size.labels)
    hours = max(size.feature_rows // size.drivers, 2)
    # Start one hour in, so every order has at least one earlier feature row.
    offset_us = label_rng.integers(_US_PER_HOUR, hours * _US_PER_HOUR, size.labels)
    event_us = np.sort(int(START.timestamp() * 1_000_000) + offset_us)
    probability = 1 / (1 + np.exp(-20 * (reliability[driver_index] - 0.5)))
    completed = (label_rng.random(size.labels) < probability).astype(np.int64)
    return pa.table(
        {
            "event_timestamp": pa.array(event_us, pa.timestamp("us", tz="UTC")),
            "driver_id": pa.array(FIRST_DRIVER_ID + driver_index, pa.int64()),
            "trip_completed": pa.array(completed, pa.int64()),
        }
    )


# Rows formatted and written at a time: one string array of 100M timestamps (3.2 GB) would
# pass Arrow's 2 GiB limit for a `string` array (ArrowCapacityError); the bytes written are
# the same whatever the slice.
LABEL_SLICE_ROWS = 5_000_000


def write_labels_csv(table: pa.Table, path: Path, slice_rows: int = LABEL_SLICE_ROWS) -> None:
    """Write labels as the seed's tab-separated file with ISO-8601 UTC timestamps."""
    options = pa_csv.WriteOptions(delimiter="\t", quoting_style="none", include_header=False)
    with pa.OSFile(str(path), "wb") as sink:
        sink.write("\t".join(table.column_names).encode() + b"\n")
        for start in range(0, table.num_rows, slice_rows):
            part = table.slice(start, slice_rows)
            # Arrow's %S prints the fraction of the second too: 2026-01-01T01:35:59.574937+00:00
            iso = pc.strftime(part["event_timestamp"], format="%Y-%m-%dT%H:%M:%S+00:00")
            pa_csv.write_csv(part.set_column(0, "event_timestamp", iso), sink, options)


DEFAULT_SIZE = SampleSize()


def write_sample_data(out_dir: Path, size: SampleSize = DEFAULT_SIZE) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    features_path, labels_path = out_dir / FEATURES_FILE, out_dir / LABELS_FILE
    pq.write_table(driver_stats_table(size), features_path)
    write_labels_csv(driver_orders_table(size), labels_path)
    return features_path, labels_path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", type=Path, default=Path("data"))
    parser.add_argument("--drivers", type=int, default=SampleSize.drivers)
    parser.add_argument("--feature-rows", type=int, default=SampleSize.feature_rows)
    parser.add_argument("--labels", type=int, default=SampleSize.labels)
    parser.add_argument("--seed", type=int, default=SampleSize.seed)
    parser.add_argument(
        "--if-missing", action="store_true", help="do nothing when both files already exist"
    )
    args = parser.parse_args(argv)
    targets = [args.out_dir / FEATURES_FILE, args.out_dir / LABELS_FILE]
    if args.if_missing and all(path.exists() for path in targets):
        print(f"sample data already present in {args.out_dir}/")
        return
    size = SampleSize(args.drivers, args.feature_rows, args.labels, args.seed)
    for path in write_sample_data(args.out_dir, size):
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
