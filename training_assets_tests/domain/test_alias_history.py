"""The alias audit trail on a real MLflow store: every move recorded, answerable in time."""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
import time

import pytest

from training_assets.champion import rollback
from training_assets.domain import alias_history
from training_assets.domain.registry import promote, set_alias
from training_assets_tests.support.mlflow_models import (
    log_elastic_net,
    mlflow_store,
    split_frames,
)

NAME = "sklearn-elastic-net-reg"


@pytest.fixture
def store_with_versions(tmp_path):
    import mlflow

    store = mlflow_store(tmp_path)
    train, _ = split_frames()
    store.activate()
    for alpha in (0.001, 0.01, 0.1):
        mlflow.register_model(log_elastic_net(store, train, alpha)["model_uri"], NAME)
    return store


def test_promote_rollback_promote_gives_three_events_and_champion_at_answers_each(
    store_with_versions,
):
    client = store_with_versions.client()
    times = []
    for act in (
        lambda: promote(client, NAME, "1", by="Dagster run r1", user="u", reason="checks passed"),
        lambda: promote(client, NAME, "2", by="Dagster run r2", user="u", reason="checks passed"),
        lambda: rollback(client, NAME, user="ops"),
        lambda: promote(client, NAME, "3", by="Dagster run r3", user="u", reason="checks passed"),
    ):
        act()
        times.append(alias_history.parse_time(alias_history.now()))
        time.sleep(0.01)
    events = alias_history.history(client, NAME)
    assert [e.moves for e in events] == [
        {"champion": [None, "1"]},
        {"previous-champion": [None, "1"], "champion": ["1", "2"]},
        {"champion": ["2", "1"], "previous-champion": ["1", "2"]},
        {"previous-champion": ["2", "1"], "champion": ["1", "3"]},
    ]
    assert [e.by for e in events][2] == "python -m training_assets.champion rollback"
    assert events[2].reason == "manual rollback" and events[2].user == "ops"
    assert all(e.when.tzinfo is not None for e in events)
    before = events[0].when.replace(year=2020)
    answers = [alias_history.champion_at(events, t) for t in (before, *times)]
    assert answers == [None, "1", "2", "1", "3"]


def test_an_unchanged_promotion_records_nothing(store_with_versions):
    client = store_with_versions.client()
    promote(client, NAME, "1", by="r1", user="u", reason="r")
    assert promote(client, NAME, "1", by="r2", user="u", reason="r") is None
    assert len(alias_history.history(client, NAME)) == 1


def test_champion_at_a_time_and_a_bad_time_from_the_command_line(store_with_versions):
    client = store_with_versions.client()
    promote(client, NAME, "2", by="r", user="u", reason="r")
    env = {"MLFLOW_TRACKING_URI": store_with_versions.tracking_uri}

    def command(*args):
        return subprocess.run(
            [sys.executable, "-m", "training_assets.champion", *args],
            capture_output=True,
            text=True,
            env={**__import__("os").environ, **env},
            timeout=120,
            check=False,
        )

    now = command("at", alias_history.now())
    assert now.returncode == 0, now.stderr
    assert now.stdout.strip().endswith("version 2")
    early = command("at", "2020-01-01T00:00:00Z")
    assert early.stdout.strip().endswith("version -")
    bad = command("at", "yesterday")
    assert bad.returncode == 2
    assert "Bad time: 'yesterday' is not an ISO 8601 time" in bad.stderr
    shown = command("show")
    assert "History (1 event(s), newest first)" in shown.stdout
    assert "champion - -> 2" in shown.stdout


ALIASES = 200


def _set_aliases_together(tracking_uri: str, version: str, count: int, barrier) -> None:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri, tracking_uri)
    barrier.wait(timeout=120)  # both processes start setting at the same moment
    for number in range(count):
        set_alias(client, NAME, f"race-{number}", version)


def test_two_processes_setting_the_same_new_aliases_at_once_both_succeed(store_with_versions):
    """MLflow's SQL store sets an alias by a read, then an insert, so two processes setting a
    new alias at once can collide on its key (see `registry.set_alias`). Without the retry,
    2 x 200 concurrent sets failed in 4 of 4 tries here; two `dagster asset materialize`
    promoting at once failed the same way."""
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(2)
    uri = store_with_versions.tracking_uri
    processes = [
        context.Process(target=_set_aliases_together, args=(uri, version, ALIASES, barrier))
        for version in ("1", "2")
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=300)
    assert [p.exitcode for p in processes] == [0, 0]
    aliases = store_with_versions.client().get_registered_model(NAME).aliases
    assert {str(aliases[f"race-{number}"]) for number in range(ALIASES)} <= {"1", "2"}
