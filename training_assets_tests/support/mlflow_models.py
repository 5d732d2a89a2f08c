"""Real models in a real MLflow store, for the model checks' own tests.

`log_elastic_net` logs a scikit-learn ElasticNet the way the `model` asset does
(`mlflow.sklearn.log_model` with a signature, an input example and named requirements, in the
MLflow run of a Dagster run); `log_pyfunc` logs a hand-written pyfunc, to make models that
break the serving contract. The store is a SQLite file with artifacts next to it.
"""

from __future__ import annotations

import json
import tempfile
import uuid
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from training_assets.domain.mlflow_logging import pip_requirements, schema_sample
from training_assets.domain.registry import CHAMPION_ALIAS
from training_assets.resources.mlflow_tracking import MlflowResource
from training_assets.schema import FEATURES, TARGET


@cache
def _new_database() -> bytes:
    """An MLflow SQLite database with its schema created: MLflow's migrations take seconds,
    a copy of the file a millisecond."""
    from mlflow import MlflowClient

    with tempfile.TemporaryDirectory() as directory:
        uri = f"sqlite:///{directory}/mlflow.db"
        MlflowClient(tracking_uri=uri, registry_uri=uri).search_registered_models()
        return Path(directory, "mlflow.db").read_bytes()


def mlflow_store(root: Path) -> MlflowResource:
    """A fresh MLflow tracking store and registry in `root`, as the pipeline builds them."""
    (root / "mlflow.db").write_bytes(_new_database())
    return MlflowResource(
        tracking_uri=f"sqlite:///{root / 'mlflow.db'}",
        artifact_location=(root / "artifacts").as_uri(),
    )


def split_frames(rows: int = 250, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train and test sets with the pipeline's columns and dtypes; the label follows the
    features, so a fitted model beats predicting the mean."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            # The row identity the champion check matches training rows on.
            "event_timestamp": pd.Timestamp("2026-01-01", tz="UTC")
            + pd.to_timedelta(np.arange(rows) + seed * rows, unit="min"),
            "driver_id": (1001 + np.arange(rows) % 20).astype("int64"),
            "conv_rate": rng.random(rows).astype("float32"),
            "acc_rate": rng.random(rows).astype("float32"),
            "avg_daily_trips": rng.integers(0, 100, rows).astype("int32"),
        }
    )
    score = frame["conv_rate"] + frame["avg_daily_trips"] / 100 + rng.normal(0, 0.1, rows)
    frame[TARGET] = (score > 1).astype("int64")
    frame["feature_timestamp"] = frame["event_timestamp"] - pd.Timedelta(minutes=1)
    cut = int(rows * 0.8)
    return frame.iloc[:cut].reset_index(drop=True), frame.iloc[cut:].reset_index(drop=True)


def _in_run(store: MlflowResource, log):
    import mlflow

    store.activate()
    run_id = store.run_for_dagster_run(uuid.uuid4().hex, tags={})
    with mlflow.start_run(run_id=run_id):
        info = log()
    return {"model_uri": info.model_uri, "model_id": info.model_id, "run_id": run_id}


def log_elastic_net(store: MlflowResource, train: pd.DataFrame, alpha: float) -> dict[str, Any]:
    """An ElasticNet fitted on `train`, logged as the `model` asset logs it; returns what the
    `model` asset returns (model URI and id, MLflow run) plus the estimator."""
    import mlflow
    from mlflow.models import infer_signature
    from sklearn.linear_model import ElasticNet

    features = train[list(FEATURES)]
    estimator = ElasticNet(alpha=alpha, l1_ratio=0.1, random_state=0).fit(features, train[TARGET])
    sample = schema_sample(features)
    logged = _in_run(
        store,
        lambda: mlflow.sklearn.log_model(
            sk_model=estimator,
            name="model",
            signature=infer_signature(sample, estimator.predict(sample)),
            input_example=features.head(5),
            pip_requirements=pip_requirements(),
        ),
    )
    return {**logged, "estimator": estimator}


def log_pyfunc(store: MlflowResource, python_model, inputs: pd.DataFrame) -> dict[str, Any]:
    """A hand-written pyfunc whose input schema is the one MLflow infers from `inputs`."""
    import mlflow
    from mlflow.models import infer_signature

    return _in_run(
        store,
        lambda: mlflow.pyfunc.log_model(
            name="model",
            python_model=python_model,
            signature=infer_signature(inputs),
            pip_requirements=pip_requirements(),
        ),
    )


def register_champion(
    store: MlflowResource, model: dict[str, Any], train_set: Path | None = None
) -> str:
    """Register the logged model as a new version and give it the champion alias; with
    `train_set`, tag the version with it as the pipeline's lineage does."""
    import mlflow

    store.activate()
    tags = {"data.train_set": json.dumps({"path": str(train_set)})} if train_set else {}
    name = store.registered_model_name
    version = str(mlflow.register_model(model["model_uri"], name, tags=tags).version)
    store.client().set_registered_model_alias(name, CHAMPION_ALIAS, version)
    return version


def stored_frame(frame: pd.DataFrame, path: Path) -> Path:
    """The frame as a stored Parquet version (what the IO manager writes) at `path`."""
    frame.to_parquet(path, index=False)
    return path
