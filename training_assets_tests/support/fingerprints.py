"""Fingerprints of everything a run may leave behind, to prove a failed run changed nothing."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from training_assets_tests.support.project import Project
from training_assets_tests.support.runs import MODEL_NAME


def file_hashes(root: Path, skip: tuple[str, ...] = ()) -> dict[str, str]:
    hashes = {}
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root).as_posix()
        if path.is_file() and not relative.startswith(skip):
            hashes[relative] = hashlib.sha256(path.read_bytes()).hexdigest()
    return hashes


def registry_state(project: Project, model_name: str = MODEL_NAME) -> list[Any]:
    """Every registered version with its run, status, aliases and tags."""
    client = project.mlflow_client()
    versions = client.search_model_versions(f"name = '{model_name}'")
    return sorted(
        (int(v.version), v.run_id, v.status, sorted(v.aliases), sorted(v.tags.items()))
        for v in versions
    )


def project_fingerprint(project: Project) -> dict[str, Any]:
    """Stored asset versions, the registry, and the MLflow artifacts present so far.

    The Great Expectations reports under validation/ are left out: every check evaluation
    writes its own report, which is a record of that run, not an earlier result. So is
    feast_registry: it is stored before the inputs are checked, as a new version beside the
    earlier ones (`assert_intact` checks those stay as they were).
    """
    return {
        "assets": file_hashes(project.storage_dir, skip=("validation/", "feast_registry/")),
        "feast_registry": file_hashes(project.storage_dir / "feast_registry", skip=("LATEST",)),
        "registry": registry_state(project),
        "artifacts": file_hashes(project.mlflow_dir / "artifacts"),
    }


def assert_intact(before: dict[str, Any], after: dict[str, Any]) -> None:
    """Asset values and registry unchanged; every earlier MLflow artifact still there, as it was.

    A failed run may add MLflow artifacts of its own run; it must not change earlier ones.
    """
    assert after["assets"] == before["assets"]
    assert after["registry"] == before["registry"]
    for name, digest in before["feast_registry"].items():
        assert after["feast_registry"].get(name) == digest, f"feast_registry/{name} changed"
    changed = {
        name: digest
        for name, digest in before["artifacts"].items()
        if after["artifacts"].get(name) != digest
    }
    assert not changed, f"earlier MLflow artifacts changed or vanished: {sorted(changed)}"
