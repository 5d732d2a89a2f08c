"""Spark MLlib's elastic net, fitted through `training_assets.spark.elastic_net`, has
scikit-learn's `ElasticNet` coefficients; a scikit-learn object carrying them predicts what
Spark predicts. Runs on the 2-worker cluster, on 20k training rows of the sample generator."""

from __future__ import annotations

import numpy as np
import pytest

from training_assets.feast_offline_store.asof_join import FeatureViewSpec
from training_assets.sample_data import SampleSize, write_sample_data
from training_assets.schema import FEATURES, TARGET

pytest.importorskip("pyspark")
pytestmark = [pytest.mark.slow, pytest.mark.spark]

ROWS = 20_000


@pytest.fixture(scope="module")
def training_rows(spark, tmp_path_factory):
    """(Spark DataFrame, pandas frame) of the same 20k training rows, joined on Spark."""
    from training_assets.spark.asof_join import read_frame, write_training_frame

    directory = tmp_path_factory.mktemp("elastic_net")
    features, labels = write_sample_data(
        directory, SampleSize(drivers=20, feature_rows=ROWS, labels=ROWS, seed=3)
    )
    spec = FeatureViewSpec(
        name="driver_stats",
        path=str(features),
        timestamp_field="datetime",
        created_timestamp_column="created",
        ttl_microseconds=None,
        join_keys=(("driver_id", "driver_id"),),
        features=tuple((name, name) for name in FEATURES),
    )
    written = write_training_frame(spark, labels, spec, directory / "frame")
    frame = read_frame(written.path)
    assert len(frame) == ROWS and not frame[list(FEATURES)].isna().any().any()
    return spark.read.parquet(str(written.path)), frame


@pytest.mark.parametrize(
    ("alpha", "l1_ratio"),
    # The pipeline's default; ridge; lasso; a small alpha (OWLQN stops earliest there).
    [(0.5, 0.1), (0.5, 0.0), (0.5, 1.0), (0.001, 0.5)],
)
def test_matches_sklearn(training_rows, alpha, l1_ratio):
    from sklearn.linear_model import ElasticNet

    from training_assets.spark.elastic_net import fit_elastic_net, spark_predictions

    spark_frame, frame = training_rows
    fit, model = fit_elastic_net(spark_frame, FEATURES, TARGET, alpha, l1_ratio)
    x, y = frame[list(FEATURES)].astype("float64"), frame[TARGET].astype("float64")
    # Converged scikit-learn (its default tol=1e-4 stops ~1e-3 short at small alpha).
    reference = ElasticNet(alpha=alpha, l1_ratio=l1_ratio, tol=1e-12, max_iter=1_000_000).fit(x, y)
    coef_diff = np.max(np.abs(fit.coef - reference.coef_))
    intercept_diff = abs(fit.intercept - reference.intercept_)
    print(
        f"\nalpha={alpha} l1_ratio={l1_ratio}: |coef diff| {coef_diff:.2e}, "
        f"|intercept diff| {intercept_diff:.2e}, {fit.iterations} iterations"
    )
    assert coef_diff < 1e-4 and intercept_diff < 1e-4
    # Zero where scikit-learn is zero (the L1 part really is the same).
    assert np.array_equal(fit.coef == 0, reference.coef_ == 0)

    # Serving: a scikit-learn object with Spark's numbers predicts what Spark predicts.
    served = fit.to_sklearn()
    predicted = spark_predictions(model, fit, spark_frame).select(*FEATURES, "prediction")
    rows = predicted.toPandas()
    ours = served.predict(rows[list(FEATURES)].astype("float64"))
    assert np.max(np.abs(ours - rows["prediction"].to_numpy())) < 1e-9
    assert np.max(np.abs(served.predict(x) - reference.predict(x))) < 1e-4


def test_naive_spark_settings_do_not_match(training_rows):
    """Why the transform exists: regParam=alpha, elasticNetParam=l1_ratio is another model."""
    from pyspark.ml.feature import VectorAssembler
    from pyspark.ml.regression import LinearRegression
    from sklearn.linear_model import ElasticNet

    spark_frame, frame = training_rows
    assembled = VectorAssembler(inputCols=list(FEATURES), outputCol="f").transform(
        spark_frame.withColumn(TARGET, spark_frame[TARGET].cast("double"))
    )
    naive = LinearRegression(
        featuresCol="f",
        labelCol=TARGET,
        regParam=0.001,
        elasticNetParam=0.1,
        standardization=False,
        tol=1e-12,
        maxIter=10_000,
    ).fit(assembled)
    x, y = frame[list(FEATURES)].astype("float64"), frame[TARGET].astype("float64")
    reference = ElasticNet(alpha=0.001, l1_ratio=0.1, tol=1e-12, max_iter=1_000_000).fit(x, y)
    assert np.max(np.abs(naive.coefficients.toArray() - reference.coef_)) > 1e-3


def test_penalty_transform_edges():
    from training_assets.spark.elastic_net import spark_penalty

    assert spark_penalty(0.5, 0.0, 2.0) == (0.5, 0.0)
    reg, mix = spark_penalty(0.5, 1.0, 2.0)
    assert reg == pytest.approx(0.25) and mix == 1.0
    # Label std 1: Spark's and scikit-learn's parameters coincide.
    reg, mix = spark_penalty(0.5, 0.1, 1.0)
    assert reg == pytest.approx(0.5) and mix == pytest.approx(0.1)
    with pytest.raises(ValueError, match="constant"):
        spark_penalty(0.5, 0.1, 0.0)
