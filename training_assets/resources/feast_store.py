"""The Feast feature repository: apply its definitions and read historical features.

`import feast` takes several seconds, so it happens inside the methods and never when the
code location loads.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dagster as dg

if TYPE_CHECKING:
    import pandas as pd
    from feast import FeatureStore


class FeatureRepoError(Exception):
    """The feature repository cannot be applied or read."""


class FeastResource(dg.ConfigurableResource):
    """A local Feast repository (`feature_store.yaml` plus Python definitions)."""

    repo_path: str
    # False: skip `feast apply` when the repo, the settings it read and the registry are
    # unchanged since the last apply (FEAST_ALWAYS_APPLY=1 in the environment: always).
    always_apply: bool = False

    def _check_repo(self) -> Path:
        repo = Path(self.repo_path)
        if not (repo / "feature_store.yaml").is_file():
            raise FeatureRepoError(
                f"No feature_store.yaml in the feature repo {repo} (setting FEAST_REPO_PATH)."
            )
        return repo

    def store(self) -> FeatureStore:
        from feast import FeatureStore

        return FeatureStore(repo_path=str(self._check_repo()))

    def apply(self) -> dict[str, Any]:
        """Run `feast apply` (the seed's first step) and describe what the registry now holds.

        The CLI runs in a child process so its output and any parse error of the repo's
        Python files reach the user unchanged; the same process then describes the registry
        (`feast_apply.py`), so the run's own process never imports Feast. When nothing the
        last apply read has changed (`feast_applied.py`), the apply is skipped and the
        description recorded then is returned: `applied` says which.
        """
        from training_assets.resources.feast_applied import AppliedStamp

        repo = self._check_repo()
        stamp = AppliedStamp.for_repo(repo)
        # Feast's file registry is not safe for concurrent writers: runs started together
        # (two CLIs, or the CLI beside a UI run) apply one after the other; the second then
        # finds the stamp current and skips.
        with _exclusive(stamp.registry.parent if stamp else repo):
            if stamp is not None and not self.always_apply:
                description = stamp.current_description()
                if description is not None:
                    return {"feast_apply_output": "", "applied": False, **description}
            if stamp is not None:
                stamp.remove()  # a failed apply may leave the registry half-written
            applied = self._apply_in_child(repo)
            if stamp is not None:
                stamp.save(applied["description"])
        return {
            "feast_apply_output": applied["output"],
            "applied": True,
            **applied["description"],
        }

    def _apply_in_child(self, repo: Path) -> dict[str, Any]:
        from training_assets.resources.feast_description import MARKER

        result = subprocess.run(
            [sys.executable, "-m", "training_assets.resources.feast_apply"],
            cwd=repo,
            capture_output=True,
            text=True,
            check=False,
        )
        lines = result.stdout.strip().splitlines()
        if result.returncode != 0 or not lines or not lines[-1].startswith(MARKER):
            output = result.stderr.strip() or result.stdout.strip()
            raise FeatureRepoError(
                f"`feast apply` failed in {repo} ({_culprit(repo, output)}): "
                f"{output.splitlines()[-1] if output else f'exit {result.returncode}'}\n"
                f"Feast's output:\n{output}"
            )
        description = json.loads(lines[-1][len(MARKER) :])
        return {"output": "\n".join(lines[:-1]).strip(), "description": description}

    def describe(self) -> dict[str, Any]:
        """The registry's entities and feature views (`feast_description.describe_store`)."""
        from training_assets.resources.feast_description import describe_store

        return describe_store(self.store())

    def historical_features(
        self, entity_df: pd.DataFrame, feature_refs: list[str] | None = None, service: str = ""
    ) -> pd.DataFrame:
        """Point-in-time join of the features (refs, or the named feature service's) onto the
        entity rows (Feast's offline store)."""
        store = self.store()
        features = store.get_feature_service(service) if service else feature_refs
        return store.get_historical_features(entity_df=entity_df, features=features).to_df()


@contextmanager
def _exclusive(directory: Path) -> Iterator[None]:
    """Hold an exclusive lock on `<directory>/.feast_apply.lock` (released on exit, also
    when the process dies)."""
    import fcntl

    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".feast_apply.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _culprit(repo: Path, output: str) -> str:
    """The file of the repo Feast's traceback points at, else feature_store.yaml or the repo.

    Feast's own messages name neither (e.g. FeastOfflineStoreInvalidName for a bad
    `offline_store.type`), so the traceback's frames are the best evidence.
    """
    import re

    in_repo = re.findall(rf'File "({re.escape(str(repo))}/[^"]+)", line (\d+)', output)
    if in_repo:
        path, line = in_repo[-1]
        return f"{path}, line {line}"
    syntax = re.findall(r'File "([^"]+\.py)", line (\d+)\n.*\n.*\^+\nSyntaxError', output)
    if syntax:
        return f"{syntax[-1][0]}, line {syntax[-1][1]}"
    if "repo_config.py" in output:
        return f"{repo / 'feature_store.yaml'}"
    return "its Python definitions or feature_store.yaml"
