"""Spark MLlib `LinearRegression` fitted so that it solves scikit-learn's `ElasticNet` problem.

scikit-learn minimises   1/(2n) ||y - Xw - b||^2 + alpha * l1_ratio * ||w||_1
                         + alpha * (1 - l1_ratio) / 2 * ||w||^2.
Spark minimises the same form, but first divides the label by its standard deviation `s` and
divides regParam by `s` as well; worked back to the original scale that leaves the L1 part as
scikit-learn has it and divides the L2 part by `s` (standardization=False only turns off the
*feature* scaling). So the two disagree whenever `s != 1` and l1_ratio < 1.

The fix (measured to ~1e-10): fit Spark on y / s, whose std is 1 (so Spark's own label
scaling is a no-op), with the penalty of the problem in that scale,
    regParam' * elasticNetParam'       = alpha * l1_ratio / s
    regParam' * (1 - elasticNetParam') = alpha * (1 - l1_ratio),
then multiply coefficients and intercept by `s`. The result is plain numpy, so the registered
model can be a scikit-learn `ElasticNet` carrying these numbers: serving needs no Spark.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from pyspark.ml.regression import LinearRegressionModel
    from pyspark.sql import DataFrame
    from sklearn.linear_model import ElasticNet

FEATURES_VECTOR = "__features"
SCALED_LABEL = "__label_scaled"


def spark_penalty(alpha: float, l1_ratio: float, label_std: float) -> tuple[float, float]:
    """(regParam, elasticNetParam) for a fit on y / label_std that solves ElasticNet(alpha,
    l1_ratio) on y."""
    if not 0 <= l1_ratio <= 1:
        raise ValueError(f"l1_ratio must be in [0, 1], got {l1_ratio}.")
    if label_std <= 0:
        raise ValueError("The label is constant (std 0): nothing to fit.")
    l1 = alpha * l1_ratio / label_std
    l2 = alpha * (1 - l1_ratio)
    reg_param = l1 + l2
    return reg_param, (l1 / reg_param if reg_param > 0 else 0.0)


@dataclass(frozen=True)
class ElasticNetFit:
    features: tuple[str, ...]
    alpha: float
    l1_ratio: float
    coef: np.ndarray
    intercept: float
    label_std: float
    iterations: int

    def to_sklearn(self) -> ElasticNet:
        """A fitted scikit-learn ElasticNet with these coefficients (predict works as usual)."""
        from sklearn.linear_model import ElasticNet

        model = ElasticNet(alpha=self.alpha, l1_ratio=self.l1_ratio)
        model.coef_ = self.coef.copy()
        model.intercept_ = float(self.intercept)
        model.n_features_in_ = len(self.features)
        model.feature_names_in_ = np.asarray(self.features, dtype=object)
        model.n_iter_ = self.iterations
        model.dual_gap_ = 0.0
        return model


def fit_elastic_net(
    frame: DataFrame,
    features: Sequence[str],
    label: str,
    alpha: float,
    l1_ratio: float,
    tol: float = 1e-12,
    max_iter: int = 10_000,
) -> tuple[ElasticNetFit, LinearRegressionModel]:
    """Fit on Spark; returns the numbers (original scale) and the Spark model (which
    predicts y / label_std: multiply its predictions by `fit.label_std`)."""
    from pyspark.ml.feature import VectorAssembler
    from pyspark.ml.regression import LinearRegression
    from pyspark.sql import functions as F

    # ddof=0, as scikit-learn's objective uses 1/n.
    label_std = frame.select(F.stddev_pop(F.col(label).cast("double"))).first()[0]
    if label_std is None:
        raise ValueError("No rows to fit.")
    reg_param, elastic_net_param = spark_penalty(alpha, l1_ratio, float(label_std))
    assembled = VectorAssembler(
        inputCols=list(features), outputCol=FEATURES_VECTOR, handleInvalid="error"
    ).transform(
        frame.select(
            *(F.col(name).cast("double").alias(name) for name in features),
            (F.col(label).cast("double") / F.lit(float(label_std))).alias(SCALED_LABEL),
        )
    )
    estimator = LinearRegression(
        featuresCol=FEATURES_VECTOR,
        labelCol=SCALED_LABEL,
        regParam=reg_param,
        elasticNetParam=elastic_net_param,
        # scikit-learn does not scale features; Spark's default would penalise scaled ones.
        standardization=False,
        fitIntercept=True,
        tol=tol,
        maxIter=max_iter,
    )
    model = estimator.fit(assembled)
    fit = ElasticNetFit(
        features=tuple(features),
        alpha=alpha,
        l1_ratio=l1_ratio,
        coef=np.asarray(model.coefficients.toArray(), dtype=np.float64) * label_std,
        intercept=float(model.intercept) * label_std,
        label_std=float(label_std),
        iterations=int(model.summary.totalIterations) if model.hasSummary else 0,
    )
    return fit, model


def spark_predictions(model: LinearRegressionModel, fit: ElasticNetFit, frame: DataFrame):
    """`frame` with a `prediction` column on the original label scale (lazy)."""
    from pyspark.ml.feature import VectorAssembler
    from pyspark.sql import functions as F

    as_double = frame.withColumns({n: F.col(n).cast("double") for n in fit.features})
    assembled = VectorAssembler(inputCols=list(fit.features), outputCol=FEATURES_VECTOR).transform(
        as_double
    )
    scaled = model.transform(assembled).drop(FEATURES_VECTOR)
    return scaled.withColumn("prediction", F.col("prediction") * F.lit(fit.label_std))
