"""Fitting the ElasticNet on a stored train set: on its rows, or out of core.

- `rows`: scikit-learn's `ElasticNet.fit` on the train set in memory, as always.
- `gram`: for a train set too big for that (at 80M rows the arrays and the copies `fit`
  makes take ~7 GB), the same model from sufficient statistics streamed over the file's row
  groups: the mean and centered co-moments of [X, y], merged chunk by chunk (Chan et al.'s
  pairwise update, in float64), then scikit-learn's own Gram coordinate descent
  (`enet_path(precompute=Gram, Xy=...)`), which is the algorithm `fit` runs, in Gram form.
  Coefficients agree with `rows` to ~1e-18 and the metrics to ~1e-16 relative (measured at
  1M, 10M and 100M rows; `training_assets_tests/domain/test_training.py`).

The method is recorded with the model, so `make reproduce` refits the way it was fitted.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from training_assets.io_managers.files import dataset_files
from training_assets.schema import FEATURES, TARGET

ROWS, GRAM = "rows", "gram"
_BATCH_ROWS = 1 << 20


def fit_method(rows: int, out_of_core_rows: int) -> str:
    return ROWS if rows <= out_of_core_rows else GRAM


def fit_elastic_net(path: str, params: dict[str, Any], method: str):
    """An ElasticNet fitted on the stored train set at `path` by `method`."""
    from sklearn.linear_model import ElasticNet

    if method == ROWS:
        train = pq.read_table(path, columns=[*FEATURES, TARGET]).to_pandas()
        return ElasticNet(**params).fit(train[list(FEATURES)], train[TARGET])
    moments = Moments(len(FEATURES) + 1)
    # A file, or each part of a Parquet dataset (the Spark profile's stored sets).
    batches = (
        batch
        for part in dataset_files(path)
        for batch in pq.ParquetFile(part).iter_batches(
            batch_size=_BATCH_ROWS, columns=[*FEATURES, TARGET]
        )
    )
    for batch in batches:
        chunk = np.empty((batch.num_rows, len(FEATURES) + 1))
        for j, name in enumerate([*FEATURES, TARGET]):
            chunk[:, j] = batch.column(name).to_numpy(zero_copy_only=False)
        moments.add(chunk)
    return _from_moments(moments, params)


class Moments:
    """Row count, means and centered co-moment matrix of the columns seen so far."""

    def __init__(self, columns: int) -> None:
        self.n, self.mean, self.m2 = 0, np.zeros(columns), np.zeros((columns, columns))

    def add(self, chunk: np.ndarray) -> None:
        rows = chunk.shape[0]
        if not rows:
            return
        mean = chunk.mean(axis=0)
        centered = chunk - mean
        m2 = centered.T @ centered
        if self.n == 0:
            self.n, self.mean, self.m2 = rows, mean, m2
            return
        total = self.n + rows
        delta = mean - self.mean
        self.m2 = self.m2 + m2 + np.outer(delta, delta) * (self.n * rows / total)
        self.mean = self.mean + delta * (rows / total)
        self.n = total


def _from_moments(moments: Moments, params: dict[str, Any]):
    """scikit-learn's Gram coordinate descent on the centered statistics. `enet_path` reads
    X and y only for the number of rows and y'y here, so stand-ins without memory are passed:
    a strided view of one zero, and one value whose square is y'y."""
    from sklearn.linear_model import ElasticNet, enet_path

    k = len(FEATURES)
    gram = np.ascontiguousarray(moments.m2[:k, :k])
    xy = np.ascontiguousarray(moments.m2[:k, k])
    rows = np.lib.stride_tricks.as_strided(np.zeros(1), shape=(moments.n, k), strides=(0, 0))
    target = np.array([math.sqrt(moments.m2[k, k])])
    estimator = ElasticNet(**params)
    _, coefs, gaps, iterations = enet_path(
        rows,
        target,
        l1_ratio=estimator.l1_ratio,
        alphas=[estimator.alpha],
        precompute=gram,
        Xy=xy,
        check_input=False,
        copy_X=False,
        tol=estimator.tol,
        max_iter=estimator.max_iter,
        random_state=estimator.random_state,
        selection=estimator.selection,
        positive=estimator.positive,
        return_n_iter=True,
    )
    estimator.coef_ = coefs[:, 0]
    # As ElasticNet._set_intercept: the mean target minus the means times the coefficients.
    estimator.intercept_ = float(moments.mean[k] - moments.mean[:k] @ estimator.coef_)
    estimator.dual_gap_ = float(gaps[0])
    estimator.n_iter_ = int(iterations[0])
    estimator.n_features_in_ = k
    estimator.feature_names_in_ = np.array(FEATURES, dtype=object)
    return estimator
