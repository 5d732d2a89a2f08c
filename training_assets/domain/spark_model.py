"""The model on Spark (TRAINING_ENGINE=spark): the elastic net fitted by Spark MLlib, proof that
the scikit-learn object carrying its coefficients predicts what Spark predicts, the test
metrics aggregated by the executors, a bounded sample for the plots, and the stored datasets
as MLflow dataset inputs.

Why the registered model is a scikit-learn `ElasticNet` with Spark's coefficients, not a Spark
`PipelineModel`: serving keeps today's contract (`mlflow.pyfunc`, the three feature columns
in, one float out) and needs no JVM, no Spark session and no cluster; a linear model is just
its coefficients and intercept, so nothing of Spark's is lost. `training_assets.spark.
elastic_net` fits Spark so that those coefficients solve scikit-learn's problem.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from training_assets.io_managers.files import StoredVersion
from training_assets.schema import FEATURES, TARGET
from training_assets.spark.elastic_net import ElasticNetFit, fit_elastic_net, spark_predictions

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

# Rows brought to the driver: to compare served and Spark predictions, to infer the MLflow
# schemas and to draw the evaluation plots. Everything else stays on the executors.
SERVING_CHECK_ROWS = 1_000
PLOT_SAMPLE_ROWS = 20_000
# The served model must predict what Spark's model predicts, to this (float64 arithmetic).
SERVING_TOLERANCE = 1e-9


@dataclass(frozen=True)
class SparkFit:
    fit: ElasticNetFit
    rows: int
    sample: pd.DataFrame  # up to SERVING_CHECK_ROWS training rows (features and target)
    served_vs_spark: float  # max |scikit-learn object - Spark model| on the sample


def fit_on_spark(frame: DataFrame, alpha: float, l1_ratio: float) -> SparkFit:
    """Fit on Spark and check the scikit-learn object against Spark's own predictions."""
    fit, spark_model = fit_elastic_net(frame, FEATURES, TARGET, alpha, l1_ratio)
    sample_rows = frame.select(*FEATURES, TARGET).limit(SERVING_CHECK_ROWS)
    predicted = spark_predictions(spark_model, fit, sample_rows).toPandas()
    sample = predicted[[*FEATURES, TARGET]]
    served = fit.to_sklearn().predict(sample[list(FEATURES)])
    gap = float(np.max(np.abs(served - predicted["prediction"].to_numpy())))
    if not gap <= SERVING_TOLERANCE:
        raise RuntimeError(
            f"The scikit-learn model carrying Spark's coefficients predicts up to {gap:.3g} "
            f"away from Spark's model (allowed {SERVING_TOLERANCE}); not registering it."
        )
    rows = int(spark_model.summary.numInstances) if spark_model.hasSummary else frame.count()
    return SparkFit(fit, rows, sample, gap)


def linear_prediction(coef: np.ndarray, intercept: float):
    """A Spark column computing `intercept + coef . features` in double precision: what the
    registered scikit-learn model predicts, evaluated by the executors."""
    from pyspark.sql import functions as F

    prediction = F.lit(float(intercept))
    for name, weight in zip(FEATURES, coef, strict=True):
        prediction = prediction + F.lit(float(weight)) * F.col(name).cast("double")
    return prediction


def evaluate_on_spark(frame: DataFrame, coef: np.ndarray, intercept: float) -> dict[str, Any]:
    """RMSE and MAE of the model on `frame`, aggregated on Spark, and the row count."""
    from pyspark.sql import functions as F

    error = F.col(TARGET).cast("double") - linear_prediction(coef, intercept)
    row = frame.agg(
        F.count(F.lit(1)).alias("rows"),
        F.avg(error * error).alias("mse"),
        F.avg(F.abs(error)).alias("mae"),
    ).first()
    return {"rmse": float(np.sqrt(row["mse"])), "mae": float(row["mae"]), "rows": int(row["rows"])}


def plot_sample(frame: DataFrame, rows: int, limit: int = PLOT_SAMPLE_ROWS) -> pd.DataFrame:
    """At most `limit` rows (features and target) for the plots: a seeded Bernoulli sample,
    so the plots of a big test set cost a bounded transfer."""
    columns = frame.select(*FEATURES, TARGET)
    if rows > limit:
        columns = columns.sample(fraction=min(1.0, 1.2 * limit / rows), seed=17)
    return columns.limit(limit).toPandas()


def log_stored_dataset(
    stored: StoredVersion, name: str, role: str, sample: pd.DataFrame, rows: int
) -> None:
    """A stored dataset version as an MLflow dataset input of the active run, as
    `mlflow_logging.log_dataset` records a file: its path (a Spark dataset source), the
    content hash as digest, the schema (from `sample`) and the row count; no data read."""
    import mlflow
    from mlflow.data.meta_dataset import MetaDataset
    from mlflow.data.spark_dataset_source import SparkDatasetSource
    from mlflow.models import infer_signature

    from training_assets.domain.mlflow_logging import schema_sample

    class StoredDataset(MetaDataset):
        @property
        def profile(self) -> dict[str, int]:
            return {"num_rows": rows}

        def to_dict(self) -> dict[str, str]:
            return {**super().to_dict(), "profile": json.dumps(self.profile)}

    dataset = StoredDataset(
        source=SparkDatasetSource(path=stored.path),
        name=f"{name}@{stored.run_id[:8]}",
        digest=stored.content_hash,
        schema=infer_signature(schema_sample(sample)).inputs,
    )
    mlflow.log_input(dataset, context=role)
