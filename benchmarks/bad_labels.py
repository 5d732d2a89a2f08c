"""How fast, and in how much memory, a labels file with one bad row is refused, naming its line.

    .venv/bin/python benchmarks/bad_labels.py LABELS.csv --line 73000001 [--column driver_id]
        [--value 12x4 | --short] [--repeat 1] [--clean] [--baseline REF] [--max-mb 12000]

Copies LABELS.csv to var/bench/bad_labels/ with the value of COLUMN on line LINE (line 1 is
the header) replaced by VALUE, or with the line cut before COLUMN (`--short`), the copy
reused while it is newer than the source; then times `LabelsResource(path).read_arrow()` on
it in a child process per repeat, until it refuses the file: wall and CPU seconds of the
call, the child's peak resident memory (`ru_maxrss`, imports included; `rss_before_mb` is
what the imports alone took), and the message, which must name the line. The child is
killed above --max-mb (the machine is shared). `--clean` also times the unchanged file (the
path every good run takes); `--baseline REF` also times the reader as it is at git ref REF
(its labels.py loaded on its own) on the same files.
Prints one JSON line per run and a last line with the medians. Not a test: the figures depend
on the machine.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import BENCH_DIR, PROJECT_DIR, median, report, run_child

CHUNK = 64 << 20


def line_offset(path: Path, line: int) -> int:
    """Byte offset where `line` (1-based) starts."""
    newlines, offset = 0, 0
    with open(path, "rb") as handle:
        while newlines < line - 1:
            chunk = handle.read(CHUNK)
            if not chunk:
                raise SystemExit(f"{path} has only {newlines} lines")
            count = chunk.count(b"\n")
            if newlines + count < line - 1:
                newlines, offset = newlines + count, offset + len(chunk)
                continue
            at = -1
            for _ in range(line - 1 - newlines):
                at = chunk.index(b"\n", at + 1)
            return offset + at + 1
    return offset


def copy_range(source, target, length: int) -> None:
    while length:
        chunk = source.read(min(CHUNK, length))
        target.write(chunk)
        length -= len(chunk)


def corrupted_copy(
    source: Path, line: int, column: str, value: str, separator: str, short: bool
) -> Path:
    slug = "short" if short else re.sub(r"[^A-Za-z0-9]+", "_", value)[:20]
    target = BENCH_DIR / "bad_labels" / f"{source.parent.name}_line{line}_{column}_{slug}.csv"
    if target.is_file() and target.stat().st_mtime > source.stat().st_mtime:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(source, "rb") as handle:
        header = handle.readline().rstrip(b"\n").decode().split(separator)
    index = header.index(column)
    start = line_offset(source, line)
    tmp = target.with_suffix(".tmp")
    with open(source, "rb") as src, open(tmp, "wb") as out:
        copy_range(src, out, start)
        fields = src.readline().rstrip(b"\n").decode().split(separator)
        fields = fields[:index] if short else [*fields[:index], value, *fields[index + 1 :]]
        out.write(separator.join(fields).encode() + b"\n")
        shutil.copyfileobj(src, out, CHUNK)
    tmp.rename(target)
    return target


def rss_mb() -> float:
    for text in Path("/proc/self/status").read_text().splitlines():
        if text.startswith("VmRSS:"):
            return round(int(text.split()[1]) / 1024, 1)
    return 0.0


def child(path: str, module_file: str | None) -> None:
    """One timed read in this process; the result on the line the parent looks for."""
    if module_file:
        spec = importlib.util.spec_from_file_location("labels_baseline", module_file)
        labels = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(labels)
    else:
        from training_assets.resources import labels
    before = rss_mb()
    cpu = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    try:
        table = labels.LabelsResource(path=path).read_arrow()
        outcome = {"refused": False, "rows": table.num_rows}
    except labels.LabelsError as error:
        outcome = {"refused": True, "message": str(error)}
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF)
    report(
        {
            "seconds": round(seconds, 2),
            "cpu_s": round(
                after.ru_utime + after.ru_stime - cpu.ru_utime - cpu.ru_stime,
                2,
            ),
            "rss_before_mb": before,
            **outcome,
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("labels", type=Path)
    parser.add_argument("--line", type=int, help="default: 73%% of the way into the file")
    parser.add_argument("--column", default="driver_id")
    parser.add_argument("--value", default="12x4", help="may hold a tab: one field too many")
    parser.add_argument(
        "--short", action="store_true", help="cut the line before COLUMN: too few fields"
    )
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--clean", action="store_true", help="also time the unchanged file")
    parser.add_argument("--baseline", metavar="REF", help="also time labels.py as at git REF")
    parser.add_argument("--max-mb", type=float, default=12_000)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--module-file", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.module_file)
        return

    source = args.labels.resolve()
    line = args.line
    if line is None:
        with open(source, "rb") as handle:
            lines = sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(CHUNK), b""))
        line = 2 + int((lines - 1) * 0.73)
    start = time.perf_counter()
    bad = corrupted_copy(source, line, args.column, args.value, "\t", args.short)
    print(
        json.dumps(
            {"corrupted_copy": str(bad), "line": line, "s": round(time.perf_counter() - start, 1)}
        ),
        flush=True,
    )
    runs = [("bad", bad, None)]
    if args.clean:
        runs.append(("clean", source, None))
    if args.baseline:
        baseline = (
            BENCH_DIR / "bad_labels" / f"labels_{re.sub(r'[^A-Za-z0-9]+', '_', args.baseline)}.py"
        )
        baseline.write_text(
            subprocess.run(
                ["git", "show", f"{args.baseline}:training_assets/resources/labels.py"],
                cwd=PROJECT_DIR,
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )
        runs.append(("baseline_bad", bad, baseline))
        if args.clean:
            runs.append(("baseline_clean", source, baseline))
    results: dict[str, list[dict]] = {name: [] for name, _, _ in runs}
    for repeat in range(args.repeat):
        for name, path, module_file in runs:
            argv = [str(Path(__file__).resolve()), str(path), "--child", str(path)]
            if module_file:
                argv += ["--module-file", str(module_file)]
            result = run_child(argv, max_rss_mb=args.max_mb)
            message = result.get("message", "")
            result = {
                "run": name,
                "repeat": repeat,
                **result,
                "line_named": f"(line {line})" in message if name.endswith("bad") else None,
            }
            results[name].append(result)
            print(json.dumps(result), flush=True)
    summary = {
        "labels": str(source),
        "line": line,
        "column": args.column,
        "value": None if args.short else args.value,
        "short": args.short,
    }
    for name, rows in results.items():
        timed = [r for r in rows if "seconds" in r]
        summary[name] = {
            "seconds": round(median([r["seconds"] for r in timed]), 2) if timed else None,
            "cpu_s": round(median([r["cpu_s"] for r in timed]), 2) if timed else None,
            "peak_mb": max(r["peak_mb"] for r in rows),
            "killed": next((r["killed"] for r in rows if "killed" in r), None),
            "message": next((r.get("message") for r in timed), None),
            "rows": next((r.get("rows") for r in timed), None),
        }
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
