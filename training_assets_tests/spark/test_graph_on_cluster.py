"""The whole graph with TRAINING_ENGINE=spark against the real 2-worker cluster, as a user runs
it: `dagster asset materialize --select '*' -m training_assets.definitions` in a child process
on a project copy. One run (module fixture), then what it stored, checked, registered and
where its tasks ran."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from training_assets.schema import FEATURE_SERVICE, FEATURES, TARGET, TRAINING_FRAME_COLUMNS
from training_assets_tests.spark.conftest import SPARK_CLUSTER_RUN_ENV
from training_assets_tests.support.project import MATERIALIZE, Project, new_project
from training_assets_tests.support.runs import MODEL_NAME

pytest.importorskip("pyspark")
pytestmark = [pytest.mark.slow, pytest.mark.spark]

ASSETS = (
    "feast_registry",
    "training_frame",
    "train_set",
    "test_set",
    "drift_baseline",
    "model",
    "model_metrics",
    "registered_model_version",
)
SPARK_STEPS = ("training_frame", "train_set", "model", "model_metrics")


def _environment(project: Project, master: str) -> dict[str, str]:
    return {**project.env(), **SPARK_CLUSTER_RUN_ENV, "SPARK_MASTER": master}


@pytest.fixture(scope="module")
def graph_run(spark_cluster, tmp_path_factory):
    """The graph materialized once on the cluster: (project, its environment, CLI result)."""
    project = new_project(tmp_path_factory.mktemp("spark_graph"))
    env = _environment(project, spark_cluster.master_url)
    for name in ("MLFLOW_TRACKING_URI", "MODEL_MAX_RMSE", "MODEL_MAX_MAE"):
        env.pop(name, None)
    started = time.monotonic()
    result = subprocess.run(
        MATERIALIZE,
        cwd=project.root,
        env={**{k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}, **env},
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    print(f"\nthe graph on {spark_cluster.master_url}: {time.monotonic() - started:.1f} s")
    assert result.returncode == 0, result.stderr[-5000:]
    return project, env, result


def _instance(project: Project) -> dg.DagsterInstance:
    return dg.DagsterInstance.from_config(str(project.root / "var" / "dagster_home"))


def _metadata(instance: dg.DagsterInstance, asset: str) -> dict:
    event = instance.get_latest_materialization_event(dg.AssetKey(asset))
    assert event is not None, f"{asset} was not materialized"
    return {key: value.value for key, value in event.asset_materialization.metadata.items()}


@pytest.fixture
def defs(graph_run, monkeypatch):
    """The code location as the run saw it (TRAINING_ENGINE=spark, the project's storage)."""
    _, env, _ = graph_run
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    from training_assets.definitions import build_definitions

    return build_definitions()


def test_every_asset_and_check_on_spark_and_the_model_registered(graph_run, defs):
    project, _, result = graph_run
    assert "RUN_SUCCESS" in result.stderr
    with _instance(project) as instance:
        for asset in ASSETS:
            _metadata(instance, asset)
        checks = sorted(defs.resolve_asset_graph().asset_check_keys)
        assert len(checks) == 15
        outcomes = {}
        for key in checks:
            record = instance.get_latest_asset_check_evaluation_record(key)
            outcomes[key.name] = record.event.dagster_event.event_specific_data.passed
        assert outcomes == dict.fromkeys(outcomes, True), outcomes
        frame = _metadata(instance, "training_frame")
        assert frame["dagster/row_count"] == 400 and frame["feature_service"] == FEATURE_SERVICE
        split = _metadata(instance, "test_set")
        assert split["split_method"] == "spark-hash"
        model = _metadata(instance, "model")
        assert model["served_vs_spark_max_abs_diff"] <= 1e-9

    # The frames are Parquet datasets the executors wrote, published into the storage.
    for asset in ("training_frame", "train_set", "test_set"):
        stored = project.stored(asset)
        assert stored.is_dir() and list(stored.glob("part-*.parquet")), stored
        assert (stored / "_common_metadata").is_file()
        assert not [p for p in stored.parent.iterdir() if ".staging-" in p.name]
    train, test = defs.load_asset_value("train_set"), defs.load_asset_value("test_set")
    assert (len(train), len(test)) == (320, 80)  # scikit-learn's sizes: ceil(0.2 * 400)

    metrics = defs.load_asset_value("model_metrics")
    assert 0 < metrics["rmse"] <= 0.2 and 0 < metrics["mae"] <= 0.2
    registered = defs.load_asset_value("registered_model_version")
    assert registered["aliases"] == ["champion"] and registered["promoted"] is True
    # Lineage: the data.* tags name the stored dataset versions.
    client = project.mlflow_client()
    tags = client.get_model_version(MODEL_NAME, registered["version"]).tags
    for asset in ("training_frame", "train_set", "test_set"):
        assert Path(json.loads(tags[f"data.{asset}"])["path"]) == project.stored(asset)
    run = client.get_run(registered["run_id"])
    assert run.data.params["engine"] == "spark"
    assert run.data.metrics == pytest.approx(metrics)


def test_both_workers_ran_tasks_of_the_run(graph_run, spark_cluster):
    """The run's own record of the application's REST API (tasks per executor, and the
    worker that launched each), against the master's list of workers and applications."""
    project, _, _ = graph_run
    state = spark_cluster.state()
    workers = {worker["webuiaddress"]: worker["id"] for worker in state["workers"]}
    per_worker: dict[str, int] = dict.fromkeys(workers.values(), 0)
    with _instance(project) as instance:
        frame = _metadata(instance, "training_frame")
        application = frame["spark_application"]
        for asset in SPARK_STEPS:
            for executor in _metadata(instance, asset)["spark_tasks"].values():
                per_worker[workers[executor["worker"]]] += executor["completed_tasks"]
        joined = {workers[e["worker"]]: e["completed_tasks"] for e in frame["spark_tasks"].values()}
    print(f"\ntasks per worker: whole run {per_worker}, the join {joined}")
    assert len(per_worker) == 2 and all(count > 0 for count in per_worker.values())
    assert len(joined) == 2 and all(count > 0 for count in joined.values())
    # The master saw the application, and it ended when the run did.
    finished = {app["id"]: app for app in state["completedapps"]}
    assert finished[application]["name"] == "training-assets"
    assert finished[application]["state"] == "FINISHED"


def test_the_spark_frame_equals_the_duckdb_frame(defs, graph_run):
    from training_assets.domain.training_frame import asof_frame
    from training_assets.resources.labels import LabelsResource

    project, _, _ = graph_run
    registry = defs.load_asset_value("feast_registry")
    store = registry["offline_store"]
    plan = store["feature_services"][FEATURE_SERVICE][0]
    declared = registry["feature_views"]["driver_stats"]["features"]
    labels = LabelsResource(path=str(project.labels_path)).read_arrow()
    expected = asof_frame(labels, plan, store.get("duckdb_settings", {}), declared).to_pandas()
    ours = defs.load_asset_value("training_frame")
    assert list(ours.columns) == list(TRAINING_FRAME_COLUMNS)
    pd.testing.assert_frame_equal(ours, expected, check_exact=True)


def test_registered_model_has_scikit_learns_coefficients_and_predicts_like_spark(
    defs, graph_run, spark
):
    """On the stored train set: the registered model's coefficients are scikit-learn's
    (converged) within 1e-4, and served through mlflow.pyfunc it predicts the stored test
    set like Spark MLlib's own model fitted here on the cluster."""
    import mlflow
    from sklearn.linear_model import ElasticNet

    from training_assets.spark.elastic_net import fit_elastic_net, spark_predictions

    project, _, _ = graph_run
    registered = defs.load_asset_value("registered_model_version")
    params = defs.load_asset_value("model")["params"]
    mlflow.set_tracking_uri(project.tracking_uri)
    mlflow.set_registry_uri(project.tracking_uri)
    served = mlflow.pyfunc.load_model(registered["model_uri"])
    estimator = served.get_raw_model()

    train = defs.load_asset_value("train_set")
    reference = ElasticNet(
        alpha=params["alpha"], l1_ratio=params["l1_ratio"], tol=1e-12, max_iter=1_000_000
    ).fit(train[list(FEATURES)].astype("float64"), train[TARGET].astype("float64"))
    assert np.max(np.abs(estimator.coef_ - reference.coef_)) < 1e-4
    assert abs(estimator.intercept_ - reference.intercept_) < 1e-4

    spark_train = spark.read.parquet(str(project.stored("train_set")))
    fit, spark_model = fit_elastic_net(
        spark_train, FEATURES, TARGET, params["alpha"], params["l1_ratio"]
    )
    spark_test = spark.read.parquet(str(project.stored("test_set")))
    predicted = spark_predictions(spark_model, fit, spark_test).toPandas()
    ours = served.predict(predicted[list(FEATURES)])
    assert np.max(np.abs(np.asarray(ours) - predicted["prediction"].to_numpy())) < 1e-9


def test_data_checks_ran_on_spark_sql_and_agree_with_duckdb(defs, graph_run):
    """Every data check of the run was evaluated by Spark SQL on the cluster; DuckDB's SQL
    over the same stored dataset gives the same verdicts, figures and messages."""
    from datetime import UTC, datetime

    from training_assets.domain.validation.frame_checks import FRAME_CHECKS
    from training_assets.domain.validation.frame_checks_sql import run_frame_check_sql
    from training_assets.resources.data_validation import DataValidationResource

    project, _, _ = graph_run
    registry = defs.load_asset_value("feast_registry")
    # The run's check settings, with the records written elsewhere.
    run_settings = defs.resources["data_validation"].model_dump()
    settings = DataValidationResource(
        **{**run_settings, "result_dir": str(project.root / "var" / "duckdb_checks")}
    )
    where = {"engine", "gx_result_path"}
    with _instance(project) as instance:
        for check in FRAME_CHECKS:
            key = dg.AssetCheckKey(dg.AssetKey("training_frame"), check.name)
            record = instance.get_latest_asset_check_evaluation_record(key)
            evaluation = record.event.dagster_event.event_specific_data
            metadata = {k: v.value for k, v in evaluation.metadata.items()}
            assert metadata["engine"] == "spark", check.name
            duckdb = run_frame_check_sql(
                check, str(project.stored("training_frame")), registry, settings, datetime.now(UTC)
            )
            assert duckdb.passed == evaluation.passed
            expected = {k: v.value for k, v in duckdb.metadata.items() if k not in where}
            ours = {k: v for k, v in metadata.items() if k not in where}
            assert _undated(ours) == _undated(expected), check.name


def _undated(metadata: dict) -> str:
    """The metadata as text without the time the "not in the future" rule was evaluated at."""
    import re

    return re.sub(
        r"validated at [^)]*",
        "validated at <now>",
        json.dumps(metadata, default=str, sort_keys=True),
    )
