"""Real processes for the fault tests: the Dagster CLI, an MLflow server, a fault hook."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

BIN = Path(sys.executable).parent
MODULE = ["-m", "training_assets.definitions"]
T = TypeVar("T")


def dagster(*args: str) -> list[str]:
    return [str(BIN / "dagster"), *args]


def materialize(selection: str) -> list[str]:
    return dagster("asset", "materialize", "--select", selection, *MODULE)


def run(
    command: list[str], cwd: Path, env: dict[str, str], timeout: float = 300
) -> subprocess.CompletedProcess:
    return subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def wait_for(condition: Callable[[], T], timeout: float, interval: float = 0.5) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"not reached within {timeout:.0f}s")


def kill_group(process: subprocess.Popen, sig: int = signal.SIGKILL, timeout: float = 30) -> None:
    """Signal the process group the process leads (started with start_new_session=True)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def project_dagster_home(root: Path) -> Path:
    """`<root>/var/dagster_home` with the project's dagster.yaml (run queue, telemetry) and its
    storage created."""
    import dagster as dg
    from dagster._core.instance.ref import InstanceRef

    from training_assets.project import PROJECT_DIR

    home = root / "var" / "dagster_home"
    shutil.copy(PROJECT_DIR / "dagster.yaml", home / "dagster.yaml")
    # Create the SQLite storage once, as a running deployment has it: processes that start
    # at the same moment on a new home race creating its schema (alembic: "Version table
    # 'alembic_version' has more than one head present").
    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home))):
        pass
    return home


@contextlib.contextmanager
def running_daemon(root: Path, env: dict[str, str]) -> Iterator[subprocess.Popen]:
    """A real `dagster-daemon` for the project at `root` (DAGSTER_HOME in `env`), logging to
    `<root>/daemon.log`; stopped with its process group afterwards."""
    with open(root / "daemon.log", "w") as log:
        daemon = subprocess.Popen(
            [str(BIN / "dagster-daemon"), "run", *MODULE],
            env=env,
            cwd=root,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            yield daemon
        finally:
            kill_group(daemon, signal.SIGTERM)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# A sitecustomize.py on the child's PYTHONPATH: when the process renames a temp file onto a
# .parquet file in the folder FAULT_TARGET_DIR, it first cuts the temp file to half its size
# (a write that got half-way), writes FAULT_MARKER and sleeps until killed. No hook in
# production code.
KILL_HOOK = textwrap.dedent(
    """
    import os, time

    _target, _marker = os.environ.get("FAULT_TARGET_DIR"), os.environ.get("FAULT_MARKER")
    _replace = os.replace

    def _replace_then_hang(src, dst, *args, **kwargs):
        dst = os.fspath(dst)
        if _target and os.path.dirname(dst) == _target and dst.endswith(".parquet"):
            size = os.path.getsize(src)
            os.truncate(src, size // 2)
            with open(_marker, "w") as marker:
                marker.write(f"{os.fspath(src)}\\n{size}\\n")
            time.sleep(600)
        return _replace(src, dst, *args, **kwargs)

    if _target and _marker:
        os.replace = _replace_then_hang
    """
)


def write_hook(directory: Path, source: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "sitecustomize.py").write_text(source)
    return directory


class MlflowServer:
    """A real `mlflow server` on 127.0.0.1 with a SQLite backend and served artifacts."""

    def __init__(self, root: Path, port: int | None = None):
        self.root = root
        self.port = port or free_port()
        self.process: subprocess.Popen | None = None
        root.mkdir(parents=True, exist_ok=True)

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def backend_uri(self) -> str:
        return f"sqlite:///{self.root / 'mlflow.db'}"

    def start(self, timeout: float = 120) -> None:
        log = open(self.root / "server.log", "a")  # noqa: SIM115 (the child keeps it)
        self.process = subprocess.Popen(
            [
                str(BIN / "mlflow"),
                "server",
                "--backend-store-uri",
                self.backend_uri,
                "--serve-artifacts",
                "--artifacts-destination",
                str(self.root / "artifacts"),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--workers",
                "1",
            ],
            cwd=self.root,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        wait_for(self._healthy, timeout=timeout, interval=1)

    def _healthy(self) -> bool:
        import requests

        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(
                "mlflow server exited: " + (self.root / "server.log").read_text()[-2000:]
            )
        try:
            return requests.get(f"{self.uri}/health", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def stop(self) -> None:
        if self.process is not None:
            kill_group(self.process, signal.SIGKILL)
            self.process = None

    def registry_client(self):
        """A client on the server's own database: works while the server is down."""
        from mlflow import MlflowClient

        return MlflowClient(tracking_uri=self.backend_uri, registry_uri=self.backend_uri)


# A sitecustomize.py that holds the child's first HTTP request whose URL ends with
# FAULT_URL_SUFFIX: it writes FAULT_MARKER and waits for FAULT_GO before sending it, so the
# test can stop the server in between (MLflow's client sends through requests.Session).
HOLD_REQUEST_HOOK = textwrap.dedent(
    """
    import os, time

    _suffix, _marker, _go = (
        os.environ.get(name) for name in ("FAULT_URL_SUFFIX", "FAULT_MARKER", "FAULT_GO")
    )

    def _install():
        import requests

        original = requests.Session.request
        held = []

        def request(self, method, url, *args, **kwargs):
            if not held and str(url).endswith(_suffix):
                held.append(url)
                with open(_marker, "w") as marker:
                    marker.write(f"{method} {url}\\n")
                while not os.path.exists(_go):
                    time.sleep(0.1)
            return original(self, method, url, *args, **kwargs)

        requests.Session.request = request

    if _suffix and _marker and _go:
        _install()
    """
)


class Laps:
    """Prints how long each phase of a test took (pytest -s shows it)."""

    def __init__(self) -> None:
        self.last = time.monotonic()

    def __call__(self, name: str) -> None:
        now = time.monotonic()
        print(f"{name}: {now - self.last:.1f}s", flush=True)
        self.last = now


def training_job():
    """training_job with resources from this process's environment (for `reconstructable`)."""
    from training_assets.definitions import build_definitions

    return build_definitions().resolve_job_def("training_job")
