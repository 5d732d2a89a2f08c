"""`feast apply` runs again exactly when something it read changed: repo files, the settings
it looked up, a source's schema, or the registry itself; otherwise it is skipped."""

from __future__ import annotations

import os

import pandas as pd
import pytest

from training_assets.resources.feast_applied import AppliedStamp, fingerprint, registry_file
from training_assets.resources.feast_store import FeastResource

# Each real apply imports Feast in a child process (~10 s).
slow = pytest.mark.slow


def test_fingerprint_follows_files_and_the_settings_they_name(tmp_path, monkeypatch):
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "feature_store.yaml").write_text("registry: ${REGISTRY_DIR}/registry.db\n")
    (repo / "views.py").write_text('PATH = os.environ["MY_SOURCE_PATH"]\n')
    (repo / "__pycache__").mkdir()
    monkeypatch.setenv("MY_SOURCE_PATH", "/a")
    monkeypatch.setenv("UNRELATED_SETTING", "x")
    base = fingerprint(repo, [])
    assert fingerprint(repo, []) == base
    (repo / "__pycache__" / "views.cpython-311.pyc").write_bytes(b"ignored")
    monkeypatch.setenv("UNRELATED_SETTING", "y")
    assert fingerprint(repo, []) == base
    monkeypatch.setenv("MY_SOURCE_PATH", "/b")
    assert fingerprint(repo, []) != base
    monkeypatch.setenv("MY_SOURCE_PATH", "/a")
    monkeypatch.setenv("REGISTRY_DIR", "/r")
    assert fingerprint(repo, []) != base
    monkeypatch.delenv("REGISTRY_DIR")
    monkeypatch.setenv("FEAST_SOME_FLAG", "1")
    assert fingerprint(repo, []) != base
    monkeypatch.delenv("FEAST_SOME_FLAG")
    (repo / "more.py").write_text("x = 1\n")
    assert fingerprint(repo, []) != base


def test_only_a_local_registry_file_gets_an_applied_stamp(tmp_path):
    """No stamp for a SQL or object-store registry: FeastResource.apply skips only with a
    stamp, so such a registry is applied on every run (not exercised here: that needs a
    remote registry)."""
    (tmp_path / "feature_store.yaml").write_text("registry:\n  registry_type: sql\n  path: x\n")
    assert AppliedStamp.for_repo(tmp_path) is None
    (tmp_path / "feature_store.yaml").write_text("registry: gs://bucket/registry.pb\n")
    assert AppliedStamp.for_repo(tmp_path) is None
    (tmp_path / "feature_store.yaml").write_text("registry: data/registry.db\n")
    assert AppliedStamp.for_repo(tmp_path).registry == tmp_path / "data" / "registry.db"


@slow
def test_apply_is_skipped_only_while_nothing_it_read_changed(project, monkeypatch):
    feast = FeastResource(repo_path=str(project.feature_repo))
    first = feast.apply()
    assert first["applied"] is True
    stamp = AppliedStamp.for_repo(project.feature_repo)
    assert stamp is not None and stamp.path.is_file()
    first_registry = registry_file(project.feature_repo).read_bytes()

    second = feast.apply()
    assert second["applied"] is False
    without_flags = {k: v for k, v in second.items() if k not in ("applied", "feast_apply_output")}
    assert without_flags == {
        k: v for k, v in first.items() if k not in ("applied", "feast_apply_output")
    }
    assert FeastResource(repo_path=str(project.feature_repo), always_apply=True).apply()["applied"]

    # A setting the repo reads: the source path moves.
    moved = project.root / "data" / "moved.parquet"
    moved.write_bytes(project.features_path.read_bytes())
    monkeypatch.setenv("DRIVER_STATS_PATH", str(moved))
    changed = feast.apply()
    assert changed["applied"] is True
    assert changed["feature_views"]["driver_stats"]["source"] == str(moved)
    assert feast.apply()["applied"] is False

    # A definition file changes.
    definitions = project.feature_repo / "driver_features.py"
    definitions.write_text(definitions.read_text() + "\n# touched\n")
    assert feast.apply()["applied"] is True
    assert feast.apply()["applied"] is False

    # The source's schema changes (Feast may infer types from it); new rows alone do not.
    frame = pd.read_parquet(moved)
    pd.concat([frame, frame.head(3)]).to_parquet(moved, index=False)
    assert feast.apply()["applied"] is False
    frame.assign(extra=1).to_parquet(moved, index=False)
    assert feast.apply()["applied"] is True

    # The registry is gone, or was rewritten by someone else.
    registry = registry_file(project.feature_repo)
    registry.unlink()
    assert feast.apply()["applied"] is True
    registry.write_bytes(first_registry)  # an older registry, e.g. another checkout's apply
    assert feast.apply()["applied"] is True
    assert feast.apply()["applied"] is False


@slow
def test_failed_apply_leaves_no_stamp(project):
    feast = FeastResource(repo_path=str(project.feature_repo))
    feast.apply()
    definitions = project.feature_repo / "driver_features.py"
    definitions.write_text(definitions.read_text() + "\nthis is not python\n")
    with pytest.raises(Exception, match="feast apply"):
        feast.apply()
    assert not AppliedStamp.for_repo(project.feature_repo).path.exists()
    assert os.path.exists(registry_file(project.feature_repo))
