"""Security settings that are cheap to check statically (docs/operations.md, "Security")."""

from __future__ import annotations

import re
import subprocess

import yaml

from training_assets.project import PROJECT_DIR

PLACEHOLDERS = {"change-me", "unused"}


def test_compose_publishes_ports_on_loopback_only():
    compose = yaml.safe_load((PROJECT_DIR / "deploy" / "docker-compose.yml").read_text())
    published = {name: service.get("ports", []) for name, service in compose["services"].items()}
    assert any(published.values())
    for name, ports in published.items():
        for port in ports:
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port}"


DEPLOY = PROJECT_DIR / "deploy"
# Every password variable of the stack, MLflow's users included (deploy/README.md).
STACK_PASSWORDS = {"POSTGRES_PASSWORD", "MLFLOW_ADMIN_PASSWORD", "MLFLOW_PIPELINE_PASSWORD"}


def _compose() -> dict:
    return yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())


def _command_lines(service: dict) -> list[str]:
    """What a service runs: command, entrypoint and healthcheck test (strings or lists)."""
    lines = []
    for value in (
        service.get("command"),
        service.get("entrypoint"),
        (service.get("healthcheck") or {}).get("test"),
    ):
        if value:
            lines.append(value if isinstance(value, str) else " ".join(map(str, value)))
    return lines


def test_compose_keeps_passwords_out_of_command_lines():
    for name, service in _compose()["services"].items():
        for command in _command_lines(service):
            assert "PASSWORD" not in command.upper(), f"{name}'s command carries a password"
            assert "SECRET" not in command.upper(), f"{name}'s command carries a secret"
            # user:password@ in a URI (a `${VAR:-default}` user name is not a password)
            without_defaults = re.sub(r"\$\{[^}]*\}", "VAR", command)
            assert not re.search(r"://[^/\s:@]+:[^/\s@]+@", without_defaults), name
            # No value of deploy/.env.example (placeholders) written into a command.
            for placeholder in PLACEHOLDERS:
                assert placeholder not in command, f"{name}'s command has {placeholder!r}"


def test_compose_takes_every_password_from_the_env_file():
    """A password in a service's environment is `${VAR:?...}` from deploy/.env: no literal and
    no default, so a missing one stops docker-compose instead of running with a known value."""
    required = re.compile(r"^\$\{([A-Z_]+):\?[^}]*\}$")
    seen = set()
    for name, service in _compose()["services"].items():
        environment = service.get("environment") or {}
        assert isinstance(environment, dict), f"{name}: use a mapping for environment"
        for key, value in environment.items():
            if "PASSWORD" in key or "SECRET" in key:
                match = required.match(str(value))
                assert match, f"{name}: {key} is not taken from deploy/.env ({value!r})"
                seen.add(match.group(1))
    assert seen == STACK_PASSWORDS


def test_env_example_holds_placeholders_only():
    values = dict(
        line.split("=", 1)
        for line in (DEPLOY / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    )
    secrets = {key for key in values if "PASSWORD" in key or "SECRET" in key}
    assert secrets == STACK_PASSWORDS
    for key in secrets:
        assert values[key] in PLACEHOLDERS, f"{key} in deploy/.env.example is not a placeholder"
    # The placeholders are too short to pass as MLflow passwords (12 characters at least), so
    # a stack started with them fails at once (deploy/mlflow/auth_bootstrap.py).
    assert all(len(placeholder) < 12 for placeholder in PLACEHOLDERS)
    assert values["MLFLOW_ADMIN_USERNAME"] != values["MLFLOW_PIPELINE_USERNAME"]


def test_run_containers_get_mlflow_credentials_by_name_only():
    """The DockerRunLauncher copies bare names from the daemon; `KEY=VALUE` would put the
    value into deploy/dagster.yaml."""
    launcher = yaml.safe_load((DEPLOY / "dagster.yaml").read_text())["run_launcher"]
    env_vars = launcher["config"]["env_vars"]
    assert all("=" not in item for item in env_vars), env_vars
    assert {"MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"} <= set(env_vars)


def test_mlflow_auth_config_names_no_password():
    """deploy/mlflow/entrypoint.sh writes MLflow's auth config without the admin password
    (MLflow reads MLFLOW_AUTH_ADMIN_PASSWORD from the environment)."""
    script = (DEPLOY / "mlflow" / "entrypoint.sh").read_text()
    config = script.split('basic_auth.ini" <<EOF', 1)[1].split("\nEOF", 1)[0]
    assert "default_permission" in config and "database_uri" in config
    assert "password" not in config.lower(), config


def test_image_runs_as_a_non_root_user():
    users = re.findall(r"^USER\s+(\S+)", (PROJECT_DIR / "Dockerfile").read_text(), re.M)
    assert users and users[-1] not in {"root", "0", "0:0"}


def test_make_dev_and_mlflow_ui_bind_to_loopback():
    from training_assets.run import dev_command, mlflow_ui_command

    makefile = (PROJECT_DIR / "Makefile").read_text()
    assert "training_assets.run dev" in makefile and "training_assets.run mlflow-ui" in makefile
    for command in (dev_command(), mlflow_ui_command()):
        assert command[command.index("-h") + 1] == "127.0.0.1", command


def test_no_password_literals_in_tracked_files():
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=PROJECT_DIR, capture_output=True, text=True, check=True
    ).stdout.split()
    assignment = re.compile(
        r"(?i)(password|passwd|secret|token)[\"']?\s*[:=]\s*[\"']?([A-Za-z0-9_\-+/]{4,})"
    )
    found = []
    for name in tracked:
        path = PROJECT_DIR / name
        if name == "uv.lock" or not path.is_file() or path.stat().st_size > 1_000_000:
            continue
        text = path.read_text(errors="ignore")
        for match in assignment.finditer(text):
            value, after = match.group(2), text[match.end() : match.end() + 1]
            if value in PLACEHOLDERS or after in {".", "(", "["}:  # a placeholder or code
                continue
            found.append(f"{name}: {match.group(0)}")
    assert not found, found
