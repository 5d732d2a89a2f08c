"""The out-of-core fit is the same model as scikit-learn's fit on the rows."""

import numpy as np
import pandas as pd
import pytest

from training_assets.domain.training import GRAM, ROWS, fit_elastic_net, fit_method
from training_assets.schema import FEATURES
from training_assets_tests.support.mlflow_models import split_frames


@pytest.mark.parametrize(
    "params",
    [
        {"alpha": 0.5, "l1_ratio": 0.1, "random_state": 17},
        {"alpha": 0.001, "l1_ratio": 0.9, "random_state": 17},
        {"alpha": 0.05, "l1_ratio": 0.0, "random_state": 17},
    ],
)
def test_the_fit_from_streamed_statistics_is_the_fit_on_the_rows(tmp_path, params):
    train, test = split_frames(rows=60_000, seed=5)
    path = tmp_path / "train.parquet"
    # Several row groups, so the statistics are merged across chunks.
    train.to_parquet(path, index=False, row_group_size=7_000)
    rows, gram = (fit_elastic_net(str(path), params, method) for method in (ROWS, GRAM))
    assert np.abs(rows.coef_ - gram.coef_).max() < 1e-12
    assert abs(rows.intercept_ - gram.intercept_) < 1e-12
    assert rows.n_iter_ == gram.n_iter_
    features = test[list(FEATURES)]
    assert np.abs(rows.predict(features) - gram.predict(features)).max() < 1e-12
    # Predicting from a frame checks the feature names, as for a fitted model.
    with pytest.raises(ValueError, match="feature names"):
        gram.predict(pd.DataFrame(features.to_numpy(), columns=["a", "b", "c"]))


def test_the_method_follows_the_size():
    assert fit_method(100, out_of_core_rows=100) == ROWS
    assert fit_method(101, out_of_core_rows=100) == GRAM
