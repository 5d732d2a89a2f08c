"""Run configuration: the knobs an ML engineer turns per run (Launchpad or `--config`)."""

import dagster as dg
from pydantic import Field


class SplitConfig(dg.Config):
    """How `training_frame` is split into `train_set` and `test_set`."""

    test_size: float = Field(default=0.2, gt=0, lt=1, description="Share of rows held out.")
    random_state: int = Field(default=17, description="Seed of the shuffle before the split.")


class ElasticNetConfig(dg.Config):
    """Hyperparameters of the ElasticNet regressor."""

    alpha: float = Field(default=0.5, ge=0, description="Strength of the penalty.")
    l1_ratio: float = Field(default=0.1, ge=0, le=1, description="0 = ridge, 1 = lasso.")
    random_state: int = Field(default=17, description="Seed of the coordinate descent.")
