"""The commands behind `make run`, `make dev` and `make mlflow-ui`, on the project's settings.

    python -m training_assets.run              # materialize every asset, then a summary
    python -m training_assets.run dev          # the Dagster UI and daemon (DAGSTER_UI_PORT)
    python -m training_assets.run mlflow-ui    # the MLflow UI over the local store (MLFLOW_UI_PORT)
    eval "$(python -m training_assets.run env)"  # export DAGSTER_HOME for your own commands

Each uses the Dagster instance under TRAINING_STATE_DIR (DAGSTER_HOME, created with the
repository's dagster.yaml on first use), so runs from the CLI, the UI and the sensors share
one history. `run` executes what a user types, `dagster asset materialize --select '*' -m
training_assets.definitions`, writes its whole log to `<TRAINING_STATE_DIR>/logs/` and prints
a summary (TRAINING_RUN_OUTPUT=full prints the log as well).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from training_assets.project import PROJECT_DIR
from training_assets.settings import (
    MlflowSettings,
    OperatorSettings,
    SettingError,
    StorageSettings,
)

BIN = Path(sys.executable).parent
MATERIALIZE = ["asset", "materialize", "--select", "*", "-m", "training_assets.definitions"]


def dagster_home() -> Path:
    """The project's DAGSTER_HOME, with the repository's dagster.yaml in it (copied again
    when the repository's is newer)."""
    home = StorageSettings().home
    home.mkdir(parents=True, exist_ok=True)
    source, copy = PROJECT_DIR / "dagster.yaml", home / "dagster.yaml"
    if not copy.exists() or copy.stat().st_mtime < source.stat().st_mtime:
        shutil.copyfile(source, copy)
    return home


def _environment() -> dict[str, str]:
    return {**os.environ, "DAGSTER_HOME": str(dagster_home())}


def _log_path() -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = StorageSettings().training_state_dir / "logs" / f"run-{stamp}.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _run_logged(command: list[str], log_path: Path, echo: bool) -> int:
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            command,
            cwd=PROJECT_DIR,
            env=_environment(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert process.stdout is not None
        for line in process.stdout:
            log.write(line)
            if echo:
                sys.stdout.write(line)
        return process.wait()


def _last_error(log_path: Path) -> str:
    """The last error line of a command that failed before a run existed (e.g. a setting)."""
    lines = [line.strip() for line in log_path.read_text().splitlines() if line.strip()]
    errors = [line for line in lines if re.match(r"^[\w.]+(Error|Exception): ", line)]
    line = errors[-1] if errors else (lines[-1] if lines else "no output")
    return re.sub(r"^[\w.]+(Error|Exception): ", "", line)


def materialize() -> int:
    import dagster as dg

    from training_assets.run_summary import read_run, render

    operator, mlflow = OperatorSettings(), MlflowSettings()
    log_path = _log_path()
    started = time.time()
    print(f"Materializing every asset (Dagster's log: {log_path}) ...", flush=True)
    status = _run_logged(
        [str(BIN / "dagster"), *MATERIALIZE], log_path, operator.training_run_output == "full"
    )
    os.environ["DAGSTER_HOME"] = str(dagster_home())
    with dg.DagsterInstance.get() as instance:
        records = instance.get_run_records(limit=1)
        run = records[0] if records and records[0].create_timestamp.timestamp() >= started else None
        if run is None:
            print(f"\nNo run started: {_last_error(log_path)}\nFull log: {log_path}")
            return status or 1
        summary = read_run(instance, run.dagster_run.run_id)
    print()
    print(
        render(
            summary,
            log_path=str(log_path),
            dagster_url=f"http://127.0.0.1:{operator.dagster_ui_port}",
            mlflow_url=mlflow.mlflow_ui_url or f"http://127.0.0.1:{mlflow.mlflow_ui_port}",
        )
    )
    return status


def dev_command() -> list[str]:
    port = OperatorSettings().dagster_ui_port
    return [str(BIN / "dagster"), "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)]


def mlflow_ui_command() -> list[str]:
    mlflow, storage = MlflowSettings(), StorageSettings()
    store = mlflow.mlflow_tracking_uri or f"sqlite:///{storage.mlflow_dir / 'mlflow.db'}"
    return [
        *(str(BIN / "mlflow"), "ui", "--backend-store-uri", store),
        *("-h", "127.0.0.1", "-p", str(mlflow.mlflow_ui_port)),
    ]


def dev() -> int:
    return subprocess.call(dev_command(), cwd=PROJECT_DIR, env=_environment())


def mlflow_ui() -> int:
    uri = MlflowSettings().mlflow_tracking_uri
    if uri and uri.startswith("http"):
        print(f"MLFLOW_TRACKING_URI is a tracking server: its UI is {uri}")
        return 0
    return subprocess.call(mlflow_ui_command(), cwd=PROJECT_DIR)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    commands = {"materialize": materialize, "dev": dev, "mlflow-ui": mlflow_ui}
    try:
        if args == ["env"]:
            print(f"export DAGSTER_HOME={dagster_home()}")
            return 0
        if len(args) <= 1 and (args[0] if args else "materialize") in commands:
            return commands[args[0] if args else "materialize"]()
    except SettingError as error:
        print(error, file=sys.stderr)
        return 2
    print(__doc__.split("\n\n")[1], file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
