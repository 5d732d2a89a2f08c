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


# A failed run may store new versions of assets upstream of its failure (say the frame,
# before a bad run config stops the split): new files, which change nothing earlier. It must
# never store a model, metrics or a registered version.
UPSTREAM_OF_THE_MODEL = (
    "feast_registry",
    "training_frame",
    "train_set",
    "test_set",
    "drift_baseline",
)


def project_fingerprint(project: Project) -> dict[str, Any]:
    """Stored asset versions, the registry, and the MLflow artifacts present so far.

    The Great Expectations reports under validation/ are left out: every check evaluation
    writes its own report, which is a record of that run, not an earlier result.
    """
    return {
        "assets": file_hashes(project.storage_dir, skip=("validation/",)),
        "registry": registry_state(project),
        "artifacts": file_hashes(project.mlflow_dir / "artifacts"),
    }


def assert_intact(before: dict[str, Any], after: dict[str, Any]) -> None:
    """Every stored version, the registry and every earlier MLflow artifact as they were.

    New versions may appear only upstream of the model (`LATEST` there may name them); a
    failed run may add MLflow artifacts of its own run.
    """
    for name, digest in before["assets"].items():
        asset, _, file = name.rpartition("/")
        if file == "LATEST" and asset in UPSTREAM_OF_THE_MODEL:
            continue
        assert after["assets"].get(name) == digest, f"stored {name} changed or vanished"
    added = sorted(set(after["assets"]) - set(before["assets"]))
    assert all(name.split("/")[0] in UPSTREAM_OF_THE_MODEL for name in added), added
    assert after["registry"] == before["registry"]
    changed = {
        name: digest
        for name, digest in before["artifacts"].items()
        if after["artifacts"].get(name) != digest
    }
    assert not changed, f"earlier MLflow artifacts changed or vanished: {sorted(changed)}"
