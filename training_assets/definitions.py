"""The code location: every asset, check, resource, job, sensor and schedule of the pipeline.

`defs` is a plain `Definitions` object so `defs.load_asset_value("model_metrics")` works.
Resources are built from the settings (`settings.py`, environment variables with defaults
inside the repository); nothing here imports Feast, MLflow or Spark, which keeps the code
location quick to load.

TRAINING_ENGINE chooses the modules of the heavy assets: `duckdb` (default) the in-process
ones, `spark` those in `assets/spark_*.py`. Both profiles have the same asset keys, checks,
job and registry; `feast_registry`, `drift_baseline` and `registered_model_version` are
shared.
"""

from types import ModuleType

import dagster as dg

from training_assets import automation, jobs
from training_assets.assets import features, model, registry, sources, splits
from training_assets.checks import data_checks, model_checks, split_checks
from training_assets.executors import in_process_on_project_instance
from training_assets.resources.build import build_resources
from training_assets.settings import SparkSettings


def engine_assets(engine: str) -> list:
    """The assets of the `duckdb` or the `spark` profile."""
    if engine == "spark":
        from training_assets.assets import spark_features, spark_model, spark_splits

        return [
            *dg.load_assets_from_modules([sources, registry]),
            features.feast_registry,
            splits.drift_baseline,
            *dg.load_assets_from_modules([spark_features, spark_splits, spark_model]),
        ]
    return dg.load_assets_from_modules([sources, features, splits, model, registry])


def spark_data_checks() -> list[ModuleType]:
    """The data checks of the Spark profile: the same checks, their SQL run by Spark SQL
    over the stored dataset (`checks/spark_data_checks.py`)."""
    from training_assets.checks import spark_data_checks

    return [spark_data_checks]


def engine_checks(engine: str) -> list:
    data = spark_data_checks() if engine == "spark" else [data_checks]
    return dg.load_asset_checks_from_modules([*data, split_checks, model_checks])


def build_definitions(
    executor: dg.ExecutorDefinition = in_process_on_project_instance,
) -> dg.Definitions:
    """The code location, with resources and automation read from the settings at call time."""
    engine = SparkSettings().training_engine
    return dg.Definitions(
        assets=engine_assets(engine),
        asset_checks=engine_checks(engine),
        jobs=[jobs.training_job],
        sensors=automation.sensors(),
        schedules=automation.schedules(),
        resources=build_resources(),
        # One process per run: Feast and MLflow are imported once, not once per step.
        executor=executor,
    )


defs = build_definitions()
