"""A real standalone Spark cluster on this machine, from the pyspark wheel alone.

The wheel has no `sbin/start-master.sh`, so the master and each worker are started with
`bin/spark-class` as separate JVM processes bound to 127.0.0.1 on free ports. `spark-class`
ends in `exec java ...`, so the PID we start is the JVM's own PID: stopping the cluster signals
exactly those JVMs (and the executor JVMs the workers forked), never anything by name.

    python -m training_assets.spark.cluster --workers 2    # prints the master URL; Ctrl-C stops

In tests: `training_assets_tests/spark/conftest.py` (session-scoped fixture).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LOOPBACK = "127.0.0.1"


class ClusterError(RuntimeError):
    """The cluster did not come up (or a query of its REST API failed); says which process."""


def spark_home() -> Path:
    """The Spark distribution bundled in the pyspark wheel (jars, bin/spark-class)."""
    import pyspark

    return Path(pyspark.__file__).resolve().parent


def free_port() -> int:
    # The OS picks an unused port; the tiny race until the JVM binds it is acceptable here.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def get_json(url: str, timeout: float = 30.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.load(response)


def descendants(pid: int) -> list[int]:
    """PIDs of every process below `pid` (executor JVMs below a worker), from /proc."""
    found: list[int] = []
    pending = [pid]
    while pending:
        parent = pending.pop()
        try:
            tasks = os.listdir(f"/proc/{parent}/task")
        except FileNotFoundError:
            continue
        for task in tasks:
            try:
                children = Path(f"/proc/{parent}/task/{task}/children").read_text().split()
            except (FileNotFoundError, ProcessLookupError):
                continue
            for child in map(int, children):
                if child not in found:
                    found.append(child)
                    pending.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped) counts as gone.
    with contextlib.suppress(FileNotFoundError):
        if Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z":
            return False
    return True


def terminate(pids: list[int], grace: float = 10.0) -> None:
    """SIGTERM these PIDs (Spark's shutdown hooks run), SIGKILL whatever is left after `grace`."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(map(_alive, pids)):
        time.sleep(0.1)
    for pid in pids:
        if _alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@dataclass
class SparkDaemon:
    """One JVM of the cluster: the master or a worker."""

    role: str
    process: subprocess.Popen[bytes]
    port: int
    webui_port: int
    log: Path
    # Killed on purpose (`kill_worker`): its exit is no error while waiting for others.
    killed: bool = False

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def webui(self) -> str:
        return f"http://{LOOPBACK}:{self.webui_port}"

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"


@dataclass
class StandaloneCluster:
    """A master and `workers` workers (each `worker_cores` cores, `worker_memory` for executors).

    `daemon_memory` is the heap of the master and worker JVMs themselves (Spark's default is
    1g each; they need far less). Logs and the workers' scratch space live in `work_dir`
    (a fresh temporary directory unless given), removed by `stop()` when it was created here.
    """

    workers: int = 2
    worker_cores: int = 1
    worker_memory: str = "1g"
    daemon_memory: str = "256m"
    work_dir: Path | None = None
    master: SparkDaemon | None = field(default=None, init=False)
    worker_daemons: list[SparkDaemon] = field(default_factory=list, init=False)
    _own_work_dir: bool = field(default=False, init=False)
    start_seconds: float = field(default=0.0, init=False)

    @property
    def master_url(self) -> str:
        assert self.master, "cluster not started"
        return f"spark://{LOOPBACK}:{self.master.port}"

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            SPARK_HOME=str(spark_home()),
            # Without it the JVMs bind the machine's non-loopback address.
            SPARK_LOCAL_IP=LOOPBACK,
            SPARK_LOCAL_HOSTNAME=LOOPBACK,
            SPARK_DAEMON_MEMORY=self.daemon_memory,
            SPARK_NO_DAEMONIZE="1",
        )
        # A user's spark-env.sh / conf dir would change what this cluster is; use the wheel's.
        env.pop("SPARK_CONF_DIR", None)
        return env

    def _spawn(self, role: str, main_class: str, args: list[str], port: int, webui: int):
        assert self.work_dir
        log = self.work_dir / f"{role}.log"
        command = [str(spark_home() / "bin" / "spark-class"), main_class, *args]
        with log.open("wb") as sink:
            process = subprocess.Popen(
                command,
                stdout=sink,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self._env(),
                cwd=self.work_dir,
                # Its own session: a Ctrl-C in the terminal does not hit the JVMs mid-test;
                # `stop()` ends them by PID.
                start_new_session=True,
            )
        return SparkDaemon(role, process, port, webui, log)

    def start(self, timeout: float = 120.0) -> StandaloneCluster:
        if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
            raise ClusterError("No Java found: Spark 4 needs Java 17+ (java on PATH or JAVA_HOME).")
        if self.work_dir is None:
            self.work_dir = Path(tempfile.mkdtemp(prefix="spark-cluster-"))
            self._own_work_dir = True
        self.work_dir.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        try:
            port, webui = free_port(), free_port()
            self.master = self._spawn(
                "master",
                "org.apache.spark.deploy.master.Master",
                ["--host", LOOPBACK, "--port", str(port), "--webui-port", str(webui)],
                port,
                webui,
            )
            self._wait(lambda state: True, "the master's web UI to answer", started + timeout)
            for _ in range(self.workers):
                self._start_worker()
            self.wait_for_workers(self.workers, started + timeout)
        except BaseException:
            self.stop()
            raise
        self.start_seconds = time.monotonic() - started
        return self

    def _start_worker(self) -> SparkDaemon:
        assert self.work_dir
        index = len(self.worker_daemons)
        port, webui = free_port(), free_port()
        scratch = self.work_dir / f"worker-{index}"
        scratch.mkdir(exist_ok=True)
        daemon = self._spawn(
            f"worker-{index}",
            "org.apache.spark.deploy.worker.Worker",
            [
                "--host",
                LOOPBACK,
                "--port",
                str(port),
                "--webui-port",
                str(webui),
                "--cores",
                str(self.worker_cores),
                "--memory",
                self.worker_memory,
                "--work-dir",
                str(scratch),
                self.master_url,
            ],
            port,
            webui,
        )
        self.worker_daemons.append(daemon)
        return daemon

    def add_worker(self, timeout: float = 90.0) -> SparkDaemon:
        """One more worker, registered with the master before this returns."""
        daemon = self._start_worker()
        deadline = time.monotonic() + timeout
        self._wait(
            lambda state: any(
                w["webuiaddress"] == daemon.webui and w["state"] == "ALIVE"
                for w in state["workers"]
            ),
            f"{daemon.role} to register",
            deadline,
        )
        return daemon

    def state(self) -> dict[str, Any]:
        """The master's JSON: workers (id, webuiaddress, state, cores, ...), applications."""
        assert self.master
        return get_json(f"{self.master.webui}/json/")

    def alive_workers(self) -> list[dict[str, Any]]:
        return [w for w in self.state()["workers"] if w["state"] == "ALIVE"]

    def wait_for_workers(self, count: int, deadline: float) -> None:
        self._wait(
            lambda state: sum(w["state"] == "ALIVE" for w in state["workers"]) >= count,
            f"{count} workers to register with the master",
            deadline,
        )

    def _wait(self, ready, what: str, deadline: float) -> None:
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            for daemon in [self.master, *self.worker_daemons]:
                if daemon and not daemon.killed and daemon.process.poll() is not None:
                    raise ClusterError(
                        f"Spark {daemon.role} (pid {daemon.pid}) exited with "
                        f"{daemon.process.returncode} while waiting for {what}:\n"
                        f"{daemon.log_tail()}"
                    )
            try:
                if ready(self.state()):
                    return
            except (urllib.error.URLError, OSError, ValueError) as error:
                last_error = error
            time.sleep(0.25)
        raise ClusterError(f"Timed out waiting for {what} (last error: {last_error}).")

    def kill_worker(self, index: int, with_executors: bool = True) -> list[int]:
        """SIGKILL worker `index` (a crashed machine): its JVM, and its executors unless told
        otherwise. Returns the PIDs killed."""
        daemon = self.worker_daemons[index]
        daemon.killed = True
        pids = [daemon.pid, *(descendants(daemon.pid) if with_executors else [])]
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        daemon.process.wait(timeout=30)
        return pids

    def stop(self) -> None:
        """End the workers (and their executors), then the master, by their own PIDs."""
        for daemon in reversed(self.worker_daemons):
            if daemon.process.poll() is None:
                terminate([*descendants(daemon.pid), daemon.pid])
            daemon.process.wait(timeout=30)
        if self.master:
            if self.master.process.poll() is None:
                terminate([self.master.pid])
            self.master.process.wait(timeout=30)
        if self._own_work_dir and self.work_dir:
            shutil.rmtree(self.work_dir, ignore_errors=True)

    def __enter__(self) -> StandaloneCluster:
        return self.start() if self.master is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run a local standalone Spark cluster.")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--worker-cores", type=int, default=1)
    parser.add_argument("--worker-memory", default="1g")
    args = parser.parse_args(argv)
    cluster = StandaloneCluster(args.workers, args.worker_cores, args.worker_memory)

    def stop(signum, frame):
        raise KeyboardInterrupt

    # Ctrl-C, and SIGTERM too (a background job's SIGINT may be ignored): the JVMs are
    # stopped by `with cluster` either way.
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    with cluster:
        print(f"master {cluster.master_url}  web UI {cluster.master.webui}", flush=True)
        print(f"up in {cluster.start_seconds:.1f} s; Ctrl-C stops it", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            signal.pause()


if __name__ == "__main__":
    main()
