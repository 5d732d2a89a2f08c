"""The cheap schema inference gives exactly MLflow's schema of the whole frame."""

from __future__ import annotations

from importlib import metadata

import numpy as np
import pandas as pd
from mlflow.models import infer_signature

from training_assets.domain.mlflow_logging import (
    MODEL_REQUIREMENTS,
    pip_requirements,
    schema_sample,
)


def test_schema_of_sample_equals_schema_of_whole_frame():
    rows = 5_000
    frame = pd.DataFrame(
        {
            "conv_rate": np.linspace(0, 1, rows, dtype="float32"),
            "acc_rate": np.linspace(0, 1, rows),
            "avg_daily_trips": np.arange(rows, dtype="int32"),
            "trip_completed": np.arange(rows) % 2,
        }
    )
    whole = infer_signature(frame).inputs
    assert infer_signature(schema_sample(frame)).inputs == whole
    assert len(schema_sample(frame)) < 200

    # A value missing far beyond the sampled head makes the column optional in both.
    frame.loc[4_321, "acc_rate"] = np.nan
    whole = infer_signature(frame).inputs
    assert not whole.to_dict()[1].get("required", True)
    assert infer_signature(schema_sample(frame)).inputs == whole


def test_requirements_are_pinned_to_the_environment():
    requirements = pip_requirements()
    assert any(r.startswith("scikit-learn==") for r in requirements)
    assert all("==" in r for r in requirements)
    installed = [f"{name}=={metadata.version(name)}" for name in MODEL_REQUIREMENTS]
    assert requirements == installed
