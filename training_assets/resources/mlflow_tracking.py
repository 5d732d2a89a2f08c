"""MLflow tracking and registry for the pipeline.

dagster-mlflow's `mlflow_tracking` is a legacy function-style resource that starts (and, with
MLflow 3, finishes) an MLflow run in every step process and looks runs up by tag on each
initialisation (see ../shared/PITFALLS.md: dagster-io/dagster#21872, #22633). This resource
instead opens the MLflow run once, in the `model` step, tags it with the Dagster run id, and
every later step addresses that run by its id, carried in the `model` asset's value. So one
Dagster run gives exactly one MLflow run, whichever executor runs the steps.

`import mlflow` takes seconds, so it happens in the methods, never at code-location load.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

import dagster as dg

if TYPE_CHECKING:
    from mlflow import MlflowClient

DAGSTER_RUN_ID_TAG = "dagster.run_id"


@cache
def _client(tracking_uri: str) -> MlflowClient:
    """One client per store and process: creating one opens (and for SQLite checks the
    schema of) the database, ~0.2 s each; the steps of a run use it a dozen times."""
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


class MlflowTrackingError(Exception):
    """The MLflow tracking store cannot be used."""


class MlflowResource(dg.ConfigurableResource):
    """Where runs, models and registered versions are stored."""

    tracking_uri: str
    experiment_name: str = "elastic-net"
    # Only used when the experiment is created; None lets the tracking server decide.
    artifact_location: str | None = None
    registered_model_name: str = "sklearn-elastic-net-reg"
    # Base address of the MLflow UI for links in Dagster metadata; None: derived.
    ui_url: str | None = None

    def client(self) -> MlflowClient:
        return _client(self.tracking_uri)

    def experiment_id(self) -> str:
        client = self.client()
        experiment = client.get_experiment_by_name(self.experiment_name)
        if experiment is not None:
            return experiment.experiment_id
        return client.create_experiment(
            self.experiment_name, artifact_location=self.artifact_location
        )

    def run_for_dagster_run(self, dagster_run_id: str, tags: dict[str, str]) -> str:
        """The MLflow run of this Dagster run, created on first use (a retried step reuses it)."""
        client = self.client()
        experiment_id = self.experiment_id()
        existing = client.search_runs(
            [experiment_id],
            filter_string=f"tags.`{DAGSTER_RUN_ID_TAG}` = '{dagster_run_id}'",
            max_results=1,
        )
        if existing:
            return existing[0].info.run_id
        run = client.create_run(
            experiment_id,
            run_name=f"dagster-{dagster_run_id[:8]}",
            tags={DAGSTER_RUN_ID_TAG: dagster_run_id, **tags},
        )
        return run.info.run_id

    def _ui_base(self) -> str:
        remote = self.tracking_uri.startswith(("http://", "https://"))
        base = self.ui_url or (self.tracking_uri if remote else "http://127.0.0.1:5000")
        return base.rstrip("/")

    def run_url(self, run_id: str) -> str:
        """The run's page in the MLflow UI (the tracking server, or `make mlflow-ui` locally)."""
        return f"{self._ui_base()}/#/experiments/{self.experiment_id()}/runs/{run_id}"

    def logged_model_url(self, model_id: str) -> str:
        """The logged model's page (MLflow 3: models live in the experiment)."""
        return f"{self._ui_base()}/#/experiments/{self.experiment_id()}/models/{model_id}"

    def model_version_url(self, version: str) -> str:
        return f"{self._ui_base()}/#/models/{self.registered_model_name}/versions/{version}"

    def activate(self) -> None:
        """Point MLflow's module-level (fluent) API at this store, for `log_model` and friends."""
        import mlflow

        mlflow.set_tracking_uri(self.tracking_uri)
        mlflow.set_registry_uri(self.tracking_uri)


def registered_model_name_setting(name: str, setting: str) -> str:
    """The registered model name, refused up front if the registry would refuse it at the end.

    MLflow's own rule (`mlflow.utils.validation._validate_model_name`, MLflow 3.17): not
    empty, no '/' or ':', and unchanged by path normalisation. Checked here, without importing
    MLflow (seconds), so a bad name stops the run before anything is trained or stored.
    """
    import posixpath

    normalised = posixpath.normpath(name)
    if (
        not name.strip()
        or "/" in name
        or ":" in name
        or normalised != name
        or normalised.startswith(("..", "/"))
        or normalised == "."
    ):
        raise ValueError(
            f"Setting {setting}={name!r} is not a valid MLflow registered model name: it must "
            "not be empty, contain '/' or ':', or be a path like '.' or '..'."
        )
    return name
