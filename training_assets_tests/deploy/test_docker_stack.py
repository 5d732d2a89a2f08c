"""The production stack on a real Docker engine: image, compose stack, Docker-launched runs.

Builds the image (deploy/scripts/build-image.sh), starts deploy/docker-compose.yml with its own
env file and loopback ports, launches `training_job` through the webserver's GraphQL API (the
QueuedRunCoordinator queues it, the daemon launches it with the DockerRunLauncher) and checks
the run container, the Postgres event log and the MLflow server. The MLflow server runs MLflow's
basic-auth app: requests without valid credentials are refused, the pipeline works as its own
MLflow user, and no password shows on a command line. The fault test kills a run container
mid-run, expects run monitoring to fail the run, and re-executes from failure.

Without a Docker engine these tests skip, except under CI=true where they fail: CI must run
them (deploy/scripts/ci-docker.sh prepares the engine and the base images).

    .venv/bin/pytest -m docker -v      # about 5-8 minutes, most of it the runs themselves
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from training_assets_tests.support.processes import free_port

pytestmark = [pytest.mark.docker, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
STACK = DEPLOY / "scripts" / "stack.sh"
PROJECT = "training_stack"
IMAGE = os.environ.get("TRAINING_IMAGE", "training-assets:dev")
LOCATION = "training_assets"
JOB = "training_job"
ASSETS = {
    "feast_registry",
    "training_frame",
    "train_set",
    "test_set",
    "drift_baseline",
    "model",
    "model_metrics",
    "registered_model_version",
}
RUN_TIMEOUT_S = 420
TERMINAL = {"SUCCESS", "FAILURE", "CANCELED"}


def _on_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _unavailable(reason: str) -> None:
    if _on_ci():
        pytest.fail(f"{reason} (CI=true: the Docker tests must run, not skip)")
    pytest.skip(reason)


def _run(*args: str, timeout: float = 600, check: bool = True, env=None) -> str:
    result = subprocess.run(
        args, capture_output=True, text=True, timeout=timeout, check=False, env=env
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(args)} exited {result.returncode}:\n"
            f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
        )
    return result.stdout


@dataclass
class Stack:
    env: dict[str, str]
    env_file: Path
    webserver_port: int
    mlflow_port: int
    postgres_user: str
    postgres_db: str
    build_seconds: float
    # From the stack's env file, as deploy/.env holds them.
    admin: tuple[str, str]
    pipeline: tuple[str, str]
    postgres_password: str
    up_seconds: float = 0.0
    running: bool = False

    def up(self) -> None:
        _run(str(STACK), "up", timeout=600, env={**self.env, "STACK_WAIT": "240"})
        self.running = True

    def down(self) -> None:
        self.running = False  # also when `down` fails half-way: the next test starts it again
        _run(str(STACK), "down", "--volumes", timeout=300, env=self.env)

    @property
    def mlflow_uri(self) -> str:
        return f"http://127.0.0.1:{self.mlflow_port}"

    def mlflow_get(
        self, path: str, credentials: tuple[str, str] | None = None, post: dict | None = None
    ) -> tuple[int, str]:
        """GET (or POST `post` as JSON) on the MLflow server with basic auth or none: status
        and body."""
        data = json.dumps(post).encode() if post is not None else None
        request = urllib.request.Request(self.mlflow_uri + path, data=data)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if credentials:
            token = base64.b64encode(":".join(credentials).encode()).decode()
            request.add_header("Authorization", f"Basic {token}")
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode(errors="replace")

    def compose(self, *args: str, timeout: float = 120) -> str:
        return _run(
            "docker-compose", "-p", PROJECT, "-f", str(DEPLOY / "docker-compose.yml"),
            "--env-file", str(self.env_file), *args, timeout=timeout, env=self.env,
        )  # fmt: skip

    def graphql(self, query: str, variables: dict | None = None) -> dict:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.webserver_port}/graphql",
            data=json.dumps({"query": query, "variables": variables or {}}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=90) as response:
            body = json.load(response)
        assert "errors" not in body, body
        return body["data"]

    def sql(self, statement: str) -> list[list[str]]:
        out = self.compose(
            "exec", "-T", "postgres", "psql", "-U", self.postgres_user, "-d", self.postgres_db,
            "-At", "-F", "\t", "-c", statement,
        )  # fmt: skip
        return [line.split("\t") for line in out.splitlines() if line]


@pytest.fixture(scope="module")
def docker_engine() -> None:
    try:
        info = subprocess.run(["docker", "info"], capture_output=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        _unavailable(f"no docker client or engine: {error}; run deploy/scripts/docker-engine.sh")
    if info.returncode != 0:
        _unavailable("no Docker engine answers `docker info`; run deploy/scripts/docker-engine.sh")
    try:
        subprocess.run(["docker-compose", "version"], capture_output=True, timeout=30, check=True)
    except (OSError, subprocess.SubprocessError):
        _unavailable("no docker-compose CLI; run deploy/scripts/docker-engine.sh")


@pytest.fixture(scope="module")
def stack(docker_engine, tmp_path_factory) -> Iterator[Stack]:
    existing = _run(
        "docker", "ps", "-aq", "--filter", f"label=com.docker.compose.project={PROJECT}"
    )
    if existing.strip():
        _unavailable(
            "a training_stack is already running on this engine (its network and volume names "
            "are fixed); stop it with `make stack-down` first"
        )
    leftovers = _run("docker", "volume", "ls", "-q", "--filter", f"name={PROJECT}_").split()
    if leftovers:
        # Their Postgres cluster has another password than the one this test generates.
        _unavailable(
            f"volumes of an earlier training_stack exist ({', '.join(leftovers)}); the test "
            "starts from empty volumes and removes them at the end: remove them with "
            "`make stack-down VOLUMES=1` first"
        )
    webserver_port, mlflow_port = free_port(), free_port()
    env_file = tmp_path_factory.mktemp("stack") / "stack.env"
    lines = (DEPLOY / ".env.example").read_text().splitlines()
    settings = {
        "POSTGRES_PASSWORD": secrets.token_hex(16),
        "MLFLOW_ADMIN_PASSWORD": secrets.token_hex(16),
        "MLFLOW_PIPELINE_PASSWORD": secrets.token_hex(16),
        "DAGSTER_WEBSERVER_PORT": str(webserver_port),
        "MLFLOW_PORT": str(mlflow_port),
        "TRAINING_IMAGE": IMAGE,
    }
    lines = [line for line in lines if line.split("=", 1)[0] not in settings]
    lines += [f"{key}={value}" for key, value in settings.items()]
    env_file.write_text("\n".join(lines) + "\n")
    env = {**os.environ, "STACK_ENV_FILE": str(env_file), "TRAINING_IMAGE": IMAGE}

    started = time.monotonic()
    _run(str(DEPLOY / "scripts" / "build-image.sh"), IMAGE, timeout=900, env=env)
    built = time.monotonic()
    stack = Stack(
        env=env,
        env_file=env_file,
        webserver_port=webserver_port,
        mlflow_port=mlflow_port,
        postgres_user="dagster",
        postgres_db="dagster",
        build_seconds=built - started,
        admin=("admin", settings["MLFLOW_ADMIN_PASSWORD"]),
        pipeline=("pipeline", settings["MLFLOW_PIPELINE_PASSWORD"]),
        postgres_password=settings["POSTGRES_PASSWORD"],
    )
    try:
        stack.up()
        stack.up_seconds = time.monotonic() - built
        yield stack
    finally:
        # Idempotent: test_stack_shuts_down_clean may have done this already.
        _run(str(STACK), "down", "--volumes", timeout=300, check=False, env=env)


@pytest.fixture
def running_stack(stack: Stack) -> Stack:
    """The module's stack, started again (on empty volumes) when an earlier test took it
    down, so no test depends on the order the tests run in."""
    if not stack.running:
        stack.up()
    return stack


LAUNCH = """
mutation($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message stack }
    ... on RunConfigValidationInvalid { errors { message } }
  }
}"""

REEXECUTE = """
mutation($params: ReexecutionParams!) {
  launchRunReexecution(reexecutionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message stack }
  }
}"""

RUN = """
query($runId: ID!) {
  runOrError(runId: $runId) {
    __typename
    ... on Run { status startTime endTime tags { key value } }
  }
}"""


def launch(stack: Stack) -> str:
    params = {
        "selector": {
            "repositoryLocationName": LOCATION,
            "repositoryName": "__repository__",
            "jobName": JOB,
        },
        "runConfigData": {},
    }
    result = stack.graphql(LAUNCH, {"params": params})["launchRun"]
    assert result["__typename"] == "LaunchRunSuccess", result
    return result["run"]["runId"]


def run_info(stack: Stack, run_id: str) -> dict:
    run = stack.graphql(RUN, {"runId": run_id})["runOrError"]
    assert run["__typename"] == "Run", run
    run["tags"] = {tag["key"]: tag["value"] for tag in run["tags"]}
    return run


def wait_for_status(stack: Stack, run_id: str, timeout: float = RUN_TIMEOUT_S) -> dict:
    deadline = time.monotonic() + timeout
    run: dict | Exception = {}
    while time.monotonic() < deadline:
        try:
            run = run_info(stack, run_id)
        except (TimeoutError, urllib.error.URLError) as error:
            # A busy machine can make one poll slow; the deadline still bounds the wait.
            run = error
        else:
            if run["status"] in TERMINAL:
                return run
        time.sleep(2)
    raise AssertionError(f"run {run_id} not finished after {timeout}s; last poll: {run}")


def run_container(run_id: str) -> dict:
    """The one container labelled with this run id (the DockerRunLauncher's)."""
    ids = _run("docker", "ps", "-aq", "--filter", f"label=dagster/run_id={run_id}").split()
    assert len(ids) == 1, f"expected one container for run {run_id}, found {ids}"
    return json.loads(_run("docker", "inspect", ids[0]))[0]


def materialized(stack: Stack, run_id: str) -> set[str]:
    rows = stack.sql(
        "SELECT DISTINCT asset_key FROM event_logs WHERE run_id = "
        f"'{run_id}' AND dagster_event_type = 'ASSET_MATERIALIZATION'"
    )
    return {"/".join(json.loads(row[0])) for row in rows}


def run_story(stack: Stack, run_id: str) -> str:
    """The run's engine events and failures from the event log, for assertion messages."""
    rows = stack.sql(
        f"SELECT dagster_event_type, event FROM event_logs WHERE run_id = '{run_id}' "
        "AND dagster_event_type IN ('ENGINE_EVENT', 'PIPELINE_FAILURE', 'STEP_FAILURE', "
        "'PIPELINE_START', 'PIPELINE_STARTING') ORDER BY id"
    )
    lines = []
    for kind, event in rows:
        entry = json.loads(event)
        message = (entry.get("dagster_event") or {}).get("message") or entry.get("user_message")
        lines.append(f"{kind}: {message}")
    return "\n".join(lines)


def assert_ran_in_own_container(stack: Stack, run: dict, run_id: str) -> dict:
    container = run_container(run_id)
    assert container["Id"] == run["tags"]["docker/container_id"]
    assert container["Config"]["Labels"]["dagster/job_name"] == JOB
    assert container["Config"]["Labels"].get("com.docker.compose.project") is None
    assert container["Config"]["Image"] == IMAGE
    assert PROJECT in container["NetworkSettings"]["Networks"]
    assert "execute_run" in container["Config"]["Cmd"] or "resume_run" in container["Config"]["Cmd"]
    return container


SEARCH = "/api/2.0/mlflow/experiments/search?max_results=1"


def test_mlflow_refuses_requests_without_valid_credentials(running_stack: Stack) -> None:
    stack = running_stack
    # /health stays open (the compose healthcheck and stack.sh use it).
    assert stack.mlflow_get("/health")[0] == 200
    status, body = stack.mlflow_get(SEARCH)
    assert status == 401, body
    assert stack.mlflow_get(SEARCH, (stack.pipeline[0], "wrong-password-123"))[0] == 401
    assert stack.mlflow_get(SEARCH, ("nobody", stack.pipeline[1]))[0] == 401
    assert stack.mlflow_get(SEARCH, (stack.admin[0], stack.pipeline[1]))[0] == 401
    status, body = stack.mlflow_get(SEARCH, stack.pipeline)
    assert status == 200, body
    # The pipeline user is a plain user, the admin an admin.
    status, body = stack.mlflow_get("/api/2.0/mlflow/users/current", stack.pipeline)
    assert status == 200 and json.loads(body)["user"]["is_admin"] is False, body
    status, body = stack.mlflow_get("/api/2.0/mlflow/users/current", stack.admin)
    assert status == 200 and json.loads(body)["user"]["is_admin"] is True, body
    # Only the admin manages users (listing their names is open to every user in MLflow 3.17).
    assert stack.mlflow_get("/api/2.0/mlflow/users/get?username=admin", stack.pipeline)[0] == 403
    new_user = {"username": "mallory", "password": secrets.token_hex(8)}
    assert stack.mlflow_get("/api/2.0/mlflow/users/create", stack.pipeline, new_user)[0] == 403
    status, body = stack.mlflow_get("/api/2.0/mlflow/users/list", stack.admin)
    assert status == 200, body
    assert {user["username"] for user in json.loads(body)["users"]} == {"admin", "pipeline"}


def passwords(stack: Stack) -> dict[str, str]:
    return {
        "postgres": stack.postgres_password,
        "mlflow admin": stack.admin[1],
        "mlflow pipeline": stack.pipeline[1],
    }


def test_no_password_on_a_command_line(running_stack: Stack) -> None:
    stack = running_stack
    """`ps` (containers' processes show in the host's process list) and the containers'
    configured commands carry no password; the MLflow auth config holds none either."""
    processes = _run("ps", "-eo", "args")
    assert "--app-name basic-auth" in processes  # the containers' processes are listed
    ids = _run(
        "docker", "ps", "-aq", "--filter", f"label=com.docker.compose.project={PROJECT}"
    ).split()
    commands = [
        json.dumps([c["Path"], c["Args"], c["Config"]["Cmd"], c["Config"]["Entrypoint"]])
        for c in json.loads(_run("docker", "inspect", *ids))
    ]
    auth_config = stack.compose("exec", "-T", "mlflow", "cat", "/tmp/mlflow-auth/basic_auth.ini")
    assert "database_uri" in auth_config
    for name, password in passwords(stack).items():
        assert password not in processes, f"the {name} password is in the process list"
        assert all(password not in command for command in commands), f"{name} in a command"
        assert password not in auth_config, f"the {name} password is in the auth config"


def test_training_job_runs_in_its_own_container(running_stack: Stack, monkeypatch) -> None:
    stack = running_stack
    monkeypatch.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    # This test reads MLflow as the admin; the run writes to it as the pipeline user.
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", stack.admin[0])
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", stack.admin[1])
    submitted = time.monotonic()
    run_id = launch(stack)
    run = wait_for_status(stack, run_id)
    wall = time.monotonic() - submitted
    assert run["status"] == "SUCCESS", run_story(stack, run_id)

    container = assert_ran_in_own_container(stack, run, run_id)
    assert container["State"]["ExitCode"] == 0, container["State"]
    assert materialized(stack, run_id) == ASSETS

    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=stack.mlflow_uri, registry_uri=stack.mlflow_uri)
    versions = client.search_model_versions("name = 'sklearn-elastic-net-reg'")
    ours = [
        version
        for version in versions
        if client.get_run(version.run_id).data.tags.get("dagster.run_id") == run_id
    ]
    assert len(ours) == 1, [(v.version, v.run_id) for v in versions]
    # The artifacts went through the server (--serve-artifacts): no path shared with the run.
    experiment = client.get_experiment_by_name("elastic-net")
    assert experiment.artifact_location.startswith("mlflow-artifacts:")
    import mlflow.sklearn

    mlflow.set_tracking_uri(stack.mlflow_uri)
    model = mlflow.sklearn.load_model(f"models:/sklearn-elastic-net-reg/{ours[0].version}")
    assert hasattr(model, "predict")

    # The run worked as the pipeline user: it created the experiment and the registered model,
    # so MLflow's auth database lists that user with MANAGE on both (a run's and a model
    # version's user_id are not set from the login by MLflow 3.17).
    env = dict(item.split("=", 1) for item in container["Config"]["Env"])
    assert env["MLFLOW_TRACKING_USERNAME"] == stack.pipeline[0]
    status, body = stack.mlflow_get(
        f"/api/3.0/mlflow/users/permissions/list?username={stack.pipeline[0]}", stack.admin
    )
    assert status == 200, body
    grants = {
        (grant["resource_type"], grant["resource_pattern"]): grant["permission"]
        for grant in json.loads(body)["permissions"]
    }
    assert grants[("registered_model", "sklearn-elastic-net-reg")] == "MANAGE", grants
    assert grants[("experiment", experiment.experiment_id)] == "MANAGE", grants
    # The alias history names the MLflow user that moved the champion: the pipeline user.
    from training_assets.domain import alias_history

    [event] = [
        e
        for e in alias_history.history(client, "sklearn-elastic-net-reg")
        if e.by == f"Dagster run {run_id}"
    ]
    assert event.user == stack.pipeline[0]
    assert event.moves["champion"][1] == str(ours[0].version)
    # The run container's command carries no password either.
    command = json.dumps([container["Path"], container["Args"], container["Config"]["Cmd"]])
    assert all(password not in command for password in passwords(stack).values())

    print(
        f"\nimage build {stack.build_seconds:.0f}s, stack up {stack.up_seconds:.0f}s, "
        f"docker-launched run {wall:.0f}s submit-to-success "
        f"({float(run['endTime']) - float(run['startTime']):.0f}s run start-to-end)"
    )


def test_killed_run_container_fails_and_reexecutes_from_failure(running_stack: Stack) -> None:
    stack = running_stack
    run_id = launch(stack)
    # Kill the run container once the first assets are stored, while later steps still run.
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while "training_frame" not in materialized(stack, run_id):
        assert time.monotonic() < deadline, "training_frame never materialized"
        assert run_info(stack, run_id)["status"] not in TERMINAL, run_info(stack, run_id)
        time.sleep(0.5)
    container = run_container(run_id)
    _run("docker", "kill", container["Id"])

    run = wait_for_status(stack, run_id, timeout=180)
    assert run["status"] == "FAILURE", run_story(stack, run_id)
    assert materialized(stack, run_id) != ASSETS
    # Run monitoring (the daemon) saw the dead container and failed the run.
    failures = [
        json.loads(row[0])["dagster_event"]["message"]
        for row in stack.sql(
            f"SELECT event FROM event_logs WHERE run_id = '{run_id}' "
            "AND dagster_event_type = 'PIPELINE_FAILURE'"  # DagsterEventType.RUN_FAILURE
        )
    ]
    assert len(failures) == 1, failures
    assert "Detected run worker status" in failures[0], failures
    assert "exited" in failures[0], failures

    result = stack.graphql(
        REEXECUTE, {"params": {"parentRunId": run_id, "strategy": "FROM_FAILURE"}}
    )["launchRunReexecution"]
    assert result["__typename"] == "LaunchRunSuccess", result
    child_id = result["run"]["runId"]
    child = wait_for_status(stack, child_id)
    assert child["status"] == "SUCCESS", run_story(stack, child_id)
    assert child["tags"]["dagster/parent_run_id"] == run_id
    child_container = assert_ran_in_own_container(stack, child, child_id)
    assert child_container["Id"] != container["Id"]
    # From failure: what the killed run already stored is read, not recomputed.
    done_before = materialized(stack, run_id)
    assert "feast_registry" in done_before
    assert materialized(stack, child_id) == ASSETS - done_before


def test_stack_shuts_down_clean(running_stack: Stack) -> None:
    """Takes the module's stack down; a test that runs after it gets it started again."""
    running_stack.down()
    compose_label = f"label=com.docker.compose.project={PROJECT}"
    assert not _run("docker", "ps", "-aq", "--filter", compose_label).strip()
    assert not _run("docker", "ps", "-aq", "--filter", "label=training_stack.role=run").strip()
    network = subprocess.run(["docker", "network", "inspect", PROJECT], capture_output=True)
    assert network.returncode != 0, "the training_stack network is still there"
    volumes = _run("docker", "volume", "ls", "-q", "--filter", f"name={PROJECT}_").split()
    assert volumes == [], volumes
