"""Skip `feast apply` when nothing it reads has changed since the last apply.

`feast apply` costs seconds (it imports Feast in a child process) and, for an unchanged
feature repo, rewrites the registry with the same definitions. After each apply a stamp is
written next to the registry file (`<registry>.applied.json`): a fingerprint of everything
the apply read, the registry file's hash, and the registry description `feast_registry`
returns. The next run re-applies unless all of these still match:

- the repo's files that Feast reads (`*.py`, `feature_store.yaml`, `.feastignore`), by content;
- the environment variables the repo may read, by value: every upper-case name that occurs
  in its files (`os.environ["DRIVER_STATS_PATH"]`, `${VAR}` in the yaml, ...) and every
  `FEAST_*` variable (Feast's own settings);
- the Parquet schema of each feature view's source (Feast infers missing types from it);
- the installed Feast version and the Python executable;
- the registry file itself (missing, or written by someone else: re-apply).

A registry that is not a local file (SQL, object store) is always applied.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from training_assets.io_managers.atomic import atomic_write

STAMP_SUFFIX = ".applied.json"
_REPO_FILES = ("*.py", "feature_store.yaml", "feature_store.yml", ".feastignore")
# What an environment variable's name looks like where code or yaml reads it.
_ENV_NAME = re.compile(rb"\b[A-Z][A-Z0-9]*_[A-Z0-9_]+\b")


def registry_file(repo: Path) -> Path | None:
    """The local registry file `feature_store.yaml` names (relative to the repo), or None."""
    import yaml

    config = yaml.safe_load((repo / "feature_store.yaml").read_text()) or {}
    registry = config.get("registry", "data/registry.db")
    if isinstance(registry, Mapping):
        if registry.get("registry_type", "file") != "file":
            return None
        registry = registry.get("path", "")
    if not isinstance(registry, str) or not registry or "://" in registry:
        return None
    path = Path(os.path.expandvars(registry))  # Feast substitutes ${VAR} in the yaml
    return path if path.is_absolute() else repo / path


def _file_hash(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def _repo_files(repo: Path) -> list[Path]:
    files = {path for pattern in _REPO_FILES for path in repo.rglob(pattern)}
    return sorted(
        path
        for path in files
        if path.is_file()
        and not any(part == "__pycache__" or part.startswith(".") for part in _parts(repo, path))
    )


def _parts(repo: Path, path: Path) -> tuple[str, ...]:
    return path.relative_to(repo).parent.parts


def _source_schema(path: str) -> str:
    import pyarrow.parquet as pq

    try:
        return pq.read_schema(path).to_string(show_schema_metadata=False)
    except Exception as error:  # a directory, a missing file, not Parquet: compare the error
        return f"unreadable: {type(error).__name__}"


def fingerprint(repo: Path, sources: Iterable[str]) -> str:
    """A hash of everything `feast apply` read (see the module docstring)."""
    digest = hashlib.sha256()

    def add(*items: object) -> None:
        digest.update(json.dumps(items, default=str).encode())
        digest.update(b"\n")

    add("feast", metadata.version("feast"), sys.executable)
    names = {name for name in os.environ if name.startswith("FEAST_")}
    for path in _repo_files(repo):
        content = path.read_bytes()
        add("file", path.relative_to(repo).as_posix(), hashlib.sha256(content).hexdigest())
        names.update(match.decode() for match in _ENV_NAME.findall(content))
    for name in sorted(names):
        add("env", name, os.environ.get(name))
    for source in sorted(set(sources)):
        add("source", source, _source_schema(source))
    return digest.hexdigest()


def _sources(description: Mapping[str, Any]) -> list[str]:
    views = description.get("feature_views", {}).values()
    return [str(view["source"]) for view in views if view.get("source")]


@dataclass(frozen=True)
class AppliedStamp:
    """The stamp of the last `feast apply` of one feature repo."""

    repo: Path
    registry: Path

    @classmethod
    def for_repo(cls, repo: Path) -> AppliedStamp | None:
        registry = registry_file(repo)
        return cls(repo, registry) if registry is not None else None

    @property
    def path(self) -> Path:
        return self.registry.with_name(self.registry.name + STAMP_SUFFIX)

    def current_description(self) -> dict[str, Any] | None:
        """The recorded registry description when nothing changed since the apply, else None."""
        try:
            stamp = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return None
        registry_hash = _file_hash(self.registry)
        if registry_hash is None or registry_hash != stamp.get("registry_sha256"):
            return None
        description = stamp.get("description") or {}
        now = fingerprint(self.repo, _sources(description))
        return description if now == stamp.get("fingerprint") else None

    def save(self, description: Mapping[str, Any]) -> None:
        document = {
            # Environment values enter only as part of this hash, never the file.
            "fingerprint": fingerprint(self.repo, _sources(description)),
            "registry_sha256": _file_hash(self.registry),
            "description": description,
        }
        text = json.dumps(document, indent=2, sort_keys=True)
        atomic_write(self.path, lambda tmp: tmp.write_text(text + "\n"))

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)
