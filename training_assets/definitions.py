"""The code location: every asset, check, resource, job, sensor and schedule of the pipeline.

`defs` is a plain `Definitions` object so `defs.load_asset_value("model_metrics")` works.
Resources are built from the settings (`settings.py`, environment variables with defaults
inside the repository); nothing here imports Feast or MLflow, which keeps the code location
quick to load.
"""

import dagster as dg

from training_assets import automation, jobs
from training_assets.assets import features, model, registry, sources, splits
from training_assets.checks import data_checks, model_checks, split_checks
from training_assets.executors import in_process_on_project_instance
from training_assets.resources.build import build_resources


def build_definitions(
    executor: dg.ExecutorDefinition = in_process_on_project_instance,
) -> dg.Definitions:
    """The code location, with resources and automation read from the settings at call time."""
    return dg.Definitions(
        assets=dg.load_assets_from_modules([sources, features, splits, model, registry]),
        asset_checks=dg.load_asset_checks_from_modules([data_checks, split_checks, model_checks]),
        jobs=[jobs.training_job],
        sensors=automation.sensors(),
        schedules=automation.schedules(),
        resources=build_resources(),
        # One process per run: Feast and MLflow are imported once, not once per step.
        executor=executor,
    )


defs = build_definitions()
