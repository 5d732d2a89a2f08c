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


def test_compose_keeps_passwords_out_of_command_lines():
    compose = yaml.safe_load((PROJECT_DIR / "deploy" / "docker-compose.yml").read_text())
    for name, service in compose["services"].items():
        command = " ".join(map(str, service.get("command") or []))
        assert "PASSWORD" not in command.upper(), f"{name}'s command carries a password"
        # user:password@ in a URI (a `${VAR:-default}` user name is not a password)
        without_defaults = re.sub(r"\$\{[^}]*\}", "VAR", command)
        assert not re.search(r"://[^/\s:@]+:[^/\s@]+@", without_defaults), name


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
