"""Users of the stack's MLflow server (MLflow's basic-auth app); run by entrypoint.sh.

    python auth_bootstrap.py prepare   # before the server starts
    python auth_bootstrap.py users     # once it answers

`prepare` creates the users database in Postgres when it is missing (a stack whose volume
predates it) and makes the admin's password the one in the environment: MLflow itself sets it
only when it creates the admin, so without this a changed MLFLOW_ADMIN_PASSWORD in deploy/.env
would lock the admin out. It uses MLflow's own users store, as the server's bootstrap does;
whoever sets this container's environment holds the Postgres password anyway.

`users` creates the pipeline user through the REST API as the admin
(POST /api/2.0/mlflow/users/create), or, when it exists and its password in the environment
does not log in, sets it (PATCH users/update-password). Then, for a stack whose experiment or
registered model predates authentication (nobody owns them), it grants the pipeline user MANAGE
on the experiment and the registered model the pipeline uses. Idempotent: a restart changes
nothing. Passwords are read from the environment and never printed.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

MIN_PASSWORD = 12  # MLflow's own rule (mlflow.utils.validation._validate_password)


def _env(name: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        sys.exit(f"auth-bootstrap: {name} is required")
    return value


def _password(name: str) -> str:
    value = _env(name)
    if len(value) < MIN_PASSWORD:
        sys.exit(f"auth-bootstrap: {name} is shorter than {MIN_PASSWORD} characters")
    return value


def log(message: str) -> None:
    print(f"auth-bootstrap: {message}", flush=True)


# --------------------------------------------------------------------------------------------
# prepare


def ensure_database(uri: str) -> None:
    """CREATE DATABASE for a Postgres URI when it does not exist (the init script creates it on
    a fresh volume; an older volume lacks it)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    url = make_url(uri)
    if not url.drivername.startswith("postgresql"):
        return
    engine = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            exists = connection.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": url.database}
            ).scalar()
            if not exists:
                name = url.database.replace('"', '""')
                connection.execute(text(f'CREATE DATABASE "{name}"'))
                log(f"created database {url.database}")
    finally:
        engine.dispose()


def sync_admin_password(uri: str, username: str, password: str) -> None:
    from mlflow.server.auth.sqlalchemy_store import SqlAlchemyStore

    store = SqlAlchemyStore()
    store.init_db(uri)  # creates or migrates the schema, as the server would
    try:
        if not store.has_user(username, use_primary=True):
            log(f"admin {username!r} will be created by the server")
        elif store.authenticate_user(username, password, use_primary=True):
            log(f"admin {username!r}: password unchanged")
        else:
            store.update_user(username, password)  # (username, password, is_admin=None)
            log(f"admin {username!r}: password set from the environment (rotated)")
    finally:
        store.engine.dispose()


def prepare() -> None:
    uri = _env("MLFLOW_AUTH_DATABASE_URI")
    username = _env("MLFLOW_AUTH_ADMIN_USERNAME")
    password = _password("MLFLOW_AUTH_ADMIN_PASSWORD")
    ensure_database(uri)
    sync_admin_password(uri, username, password)


# --------------------------------------------------------------------------------------------
# users


class Api:
    def __init__(self, base: str) -> None:
        self.base = base.rstrip("/")

    def call(
        self,
        method: str,
        path: str,
        credentials: tuple[str, str] | None,
        params: dict | None = None,
        body: dict | None = None,
    ) -> tuple[int, dict]:
        url = self.base + path
        if params:
            url += "?" + urllib.parse.urlencode(params)
        request = urllib.request.Request(url, method=method)
        if credentials:
            token = base64.b64encode(":".join(credentials).encode()).decode()
            request.add_header("Authorization", f"Basic {token}")
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, data=data, timeout=60) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, raw = error.code, error.read()
        try:
            payload = json.loads(raw or b"{}")
        except ValueError:
            payload = {"message": raw.decode(errors="replace")[:200]}
        return status, payload if isinstance(payload, dict) else {}


def wait_for_server(api: Api, server_pid: int | None, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server_pid is not None:
            try:
                os.kill(server_pid, 0)
            except ProcessLookupError:
                sys.exit("auth-bootstrap: the MLflow server exited before it answered")
        try:
            if api.call("GET", "/health", None)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(1)
    sys.exit(f"auth-bootstrap: the MLflow server did not answer /health within {timeout:.0f}s")


def ensure_user(api: Api, admin: tuple[str, str], user: tuple[str, str]) -> None:
    username = user[0]
    status = api.call("GET", "/api/2.0/mlflow/users/get", admin, {"username": username})[0]
    if status == 404:
        status = api.call(
            "POST",
            "/api/2.0/mlflow/users/create",
            admin,
            body={"username": username, "password": user[1]},
        )[0]
        if status != 200:
            sys.exit(f"auth-bootstrap: creating user {username!r} failed: HTTP {status}")
        log(f"created user {username!r}")
        return
    if status != 200:
        sys.exit(f"auth-bootstrap: looking up user {username!r} failed: HTTP {status}")
    if api.call("GET", "/api/2.0/mlflow/users/current", user)[0] == 200:
        log(f"user {username!r}: exists, password unchanged")
        return
    status, _ = api.call(
        "PATCH",
        "/api/2.0/mlflow/users/update-password",
        admin,
        body={"username": username, "password": user[1]},
    )
    if status != 200:
        sys.exit(f"auth-bootstrap: setting the password of {username!r} failed: HTTP {status}")
    log(f"user {username!r}: password set from the environment (rotated)")


def grant_manage(api: Api, admin: tuple[str, str], username: str, kind: str, key: str) -> None:
    """MANAGE for `username` on an experiment id or registered model name it does not manage."""
    params = {"username": username, "resource_type": kind, "resource_id": key}
    status, body = api.call("GET", "/api/3.0/mlflow/users/permissions/get", admin, params)
    if status == 200 and body.get("permission") == "MANAGE":
        return
    status, _ = api.call(
        "POST",
        "/api/3.0/mlflow/users/permissions/grant",
        admin,
        body={**params, "permission": "MANAGE"},
    )
    if status != 200:
        sys.exit(f"auth-bootstrap: granting {username!r} MANAGE on {kind} {key} failed: {status}")
    log(f"granted {username!r} MANAGE on the existing {kind} {key}")


def grant_existing(api: Api, admin: tuple[str, str], username: str) -> None:
    """The pipeline creates its experiment and registered model and so manages them; ones made
    before authentication was on (or by someone else) need a grant."""
    from training_assets.settings import MlflowSettings

    settings = MlflowSettings()
    status, body = api.call(
        "GET",
        "/api/2.0/mlflow/experiments/get-by-name",
        admin,
        {"experiment_name": settings.mlflow_experiment_name},
    )
    if status == 200:
        grant_manage(api, admin, username, "experiment", body["experiment"]["experiment_id"])
    name = settings.mlflow_registered_model_name
    status, _ = api.call("GET", "/api/2.0/mlflow/registered-models/get", admin, {"name": name})
    if status == 200:
        grant_manage(api, admin, username, "registered_model", name)


def users() -> None:
    admin = (_env("MLFLOW_AUTH_ADMIN_USERNAME"), _password("MLFLOW_AUTH_ADMIN_PASSWORD"))
    pipeline = (_env("MLFLOW_PIPELINE_USERNAME"), _password("MLFLOW_PIPELINE_PASSWORD"))
    if pipeline[0] == admin[0]:
        sys.exit("auth-bootstrap: the pipeline user must not be the admin")
    api = Api(os.environ.get("MLFLOW_BOOTSTRAP_URL", "http://127.0.0.1:5000"))
    pid = os.environ.get("MLFLOW_SERVER_PID")
    wait_for_server(api, int(pid) if pid else None, float(os.environ.get("BOOTSTRAP_WAIT", 300)))
    status, body = api.call("GET", "/api/2.0/mlflow/users/current", admin)
    if status != 200 or not body.get("user", {}).get("is_admin"):
        sys.exit(
            f"auth-bootstrap: the admin {admin[0]!r} cannot log in as an admin (HTTP {status})"
        )
    ensure_user(api, admin, pipeline)
    grant_existing(api, admin, pipeline[0])


if __name__ == "__main__":
    commands = {"prepare": prepare, "users": users}
    if len(sys.argv) != 2 or sys.argv[1] not in commands:
        sys.exit(f"usage: {sys.argv[0]} {'|'.join(commands)}")
    commands[sys.argv[1]]()
