"""Helpers shared by the benchmarks: cached sample data, a project copy, child processes.

Every measured step runs in a child process of its own, which reports its own wall time and
peak resident memory (`ru_maxrss` of that process, so imports count), as one JSON line.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

PROJECT_DIR = Path(__file__).resolve().parent.parent
BENCH_DIR = PROJECT_DIR / "var" / "bench"
RESULT_PREFIX = "BENCH_RESULT "


def data_dir(labels: int, feature_rows: int, drivers: int, seed: int) -> Path:
    """Sample data of this size, generated once by the project's generator, then reused."""
    from training_assets.sample_data import FEATURES_FILE, LABELS_FILE, SampleSize

    directory = BENCH_DIR / f"labels{labels}_features{feature_rows}_drivers{drivers}_seed{seed}"
    if not ((directory / FEATURES_FILE).is_file() and (directory / LABELS_FILE).is_file()):
        print(f"generating sample data in {directory} ...", file=sys.stderr, flush=True)
        size = SampleSize(drivers=drivers, feature_rows=feature_rows, labels=labels, seed=seed)
        tmp = directory.with_name(directory.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        # In a child, so the generator's memory does not count against later steps.
        subprocess.run(
            [
                sys.executable,
                "-m",
                "training_assets.sample_data",
                "--out-dir",
                str(tmp),
                "--drivers",
                str(size.drivers),
                "--feature-rows",
                str(size.feature_rows),
                "--labels",
                str(size.labels),
                "--seed",
                str(size.seed),
            ],
            check=True,
            cwd=PROJECT_DIR,
            stdout=subprocess.DEVNULL,
        )
        shutil.rmtree(directory, ignore_errors=True)
        tmp.rename(directory)
    return directory


def project_copy(root: Path, data: Path, offline_store: str | None = None) -> dict[str, str]:
    """A copy of the feature repo under `root` reading `data`, and the environment that points
    the pipeline at it (storage, MLflow and Dagster home under `root` too)."""
    repo = root / "feature_repo"
    if repo.exists():
        shutil.rmtree(repo)
    shutil.copytree(
        PROJECT_DIR / "feature_repo", repo, ignore=shutil.ignore_patterns("data", "__pycache__")
    )
    if offline_store:
        config = repo / "feature_store.yaml"
        # The whole offline_store block becomes `type: ...` (other stores reject our keys).
        lines = config.read_text().splitlines()
        at = lines.index("offline_store:")
        end = at + 1
        while end < len(lines) and lines[end].startswith(" "):
            end += 1
        lines[at + 1 : end] = [f"  type: {offline_store}"]
        config.write_text("\n".join(lines) + "\n")
    (root / "dagster_home").mkdir(parents=True, exist_ok=True)
    return project_environment(root, data)


def project_environment(root: Path, data: Path) -> dict[str, str]:
    """The settings that point the pipeline at the project copy under `root`."""
    repo = root / "feature_repo"
    return {
        "FEAST_REPO_PATH": str(repo),
        "DRIVER_STATS_PATH": str(data / "driver_stats.parquet"),
        "TRAINING_LABELS_PATH": str(data / "driver_orders.csv"),
        "TRAINING_STORAGE_DIR": str(root / "assets"),
        "TRAINING_MLFLOW_DIR": str(root / "mlflow"),
        "DAGSTER_HOME": str(root / "dagster_home"),
    }


def _rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _tree(pid: int) -> list[int]:
    """`pid` and its living descendants (from /proc's children lists)."""
    pids, index = [pid], 0
    while index < len(pids):
        for task in Path(f"/proc/{pids[index]}/task").glob("*/children"):
            with suppress(OSError):  # the process ended meanwhile
                pids += [int(child) for child in task.read_text().split()]
        index += 1
    return pids


_TICKS = os.sysconf("SC_CLK_TCK")


def tree_usage(pid: int) -> tuple[float, float]:
    """CPU seconds (user + system, waited-for children included) and resident MB of the
    process tree under `pid`, now."""
    cpu = rss = 0.0
    for member in _tree(pid):
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # Fields 14-17 of proc(5): utime, stime, cutime, cstime (here indexed after the name).
        cpu += sum(int(value) for value in fields[11:15]) / _TICKS
        rss += _rss_mb(member)
    return cpu, rss


class TreeSampler:
    """Samples (epoch seconds, CPU seconds, resident MB) of one or more process trees, summed,
    every `every` seconds in a thread: what step_times.py attributes to each step."""

    def __init__(self, *pids: int, every: float = 0.25) -> None:
        self.pids, self.every = pids, every
        self.samples: list[tuple[float, float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            usage = [tree_usage(pid) for pid in self.pids]
            self.samples.append((time.time(), sum(u[0] for u in usage), sum(u[1] for u in usage)))
            self._stop.wait(self.every)

    def __enter__(self) -> TreeSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def run_child(
    argv: list[str], env: dict[str, str] | None = None, max_rss_mb: float | None = None
) -> dict[str, Any]:
    """Run a child Python process; return the JSON it reported, plus its total wall time.

    With `max_rss_mb`, the child is killed when its resident memory exceeds that (this
    machine is shared), and the result says so instead of timing it.
    """
    start = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        child = subprocess.Popen(
            [sys.executable, *argv],
            cwd=PROJECT_DIR,
            env={**os.environ, **(env or {})},
            stdout=out,
            stderr=err,
            text=True,
        )
        peak = 0.0
        while child.poll() is None:
            peak = max(peak, _rss_mb(child.pid))
            if max_rss_mb and peak > max_rss_mb:
                child.kill()
                child.wait()
                return {
                    "killed": f"resident memory above {max_rss_mb:.0f} MB",
                    "peak_mb": round(peak, 1),
                    "process_s": round(time.perf_counter() - start, 2),
                }
            time.sleep(0.2)
        wall = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    reported = [
        line[len(RESULT_PREFIX) :] for line in stdout.splitlines() if line.startswith(RESULT_PREFIX)
    ]
    if child.returncode != 0 or not reported:
        tail = (stderr or stdout)[-3000:]
        raise RuntimeError(f"{' '.join(argv)} failed (exit {child.returncode}):\n{tail}")
    return {**json.loads(reported[-1]), "process_s": round(wall, 2)}


def peak_mb() -> float:
    """Peak resident memory of this process so far, in MB (Linux reports KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


@contextmanager
def timed(result: dict[str, Any], key: str = "seconds"):
    start = time.perf_counter()
    yield
    result[key] = round(time.perf_counter() - start, 3)


def report(result: dict[str, Any]) -> None:
    """The child's result, on the line the parent looks for."""
    print(RESULT_PREFIX + json.dumps({**result, "peak_mb": peak_mb()}), flush=True)


def median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2
