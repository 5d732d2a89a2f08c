"""MLflow tracking and registry for the pipeline.

dagster-mlflow's `mlflow_tracking` is a legacy function-style resource that starts (and, with
MLflow 3, finishes) an MLflow run in every step process and looks runs up by tag on each
initialisation (dagster-io/dagster issues #21872 and #22633). This resource
instead opens the MLflow run once, in the `model` step, tags it with the Dagster run id, and
every later step addresses that run by its id, carried in the `model` asset's value. So one
Dagster run gives exactly one MLflow run, whichever executor runs the steps.

A tracking server that is down (docs/operations.md): every MLflow call is bounded by
MLflow's own HTTP retry settings, which default here to a few seconds instead of MLflow's
minutes; the steps that talk to MLflow first probe the server, and when it cannot be reached
they ask Dagster to retry the step with exponential backoff (`outage_retries`), then fail with
a message that names the setting and the (redacted) URI.

`import mlflow` takes seconds, so it happens in the methods, never at code-location load.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

import dagster as dg
from pydantic import Field

from training_assets.settings import setting_field

if TYPE_CHECKING:
    from mlflow import MlflowClient

DAGSTER_RUN_ID_TAG = "dagster.run_id"

PROBE_TIMEOUT_SECONDS = 5.0


@cache
def _client(tracking_uri: str) -> MlflowClient:
    """One client per store and process: creating one opens (and for SQLite checks the
    schema of) the database, ~0.2 s each; the steps of a run use it a dozen times."""
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


class MlflowTrackingError(Exception):
    """The MLflow tracking store cannot be used."""


class MlflowUnreachableError(MlflowTrackingError):
    """The MLflow tracking server does not answer."""


def redact_uri(uri: str) -> str:
    """The URI with any password replaced by `***`, for messages and metadata."""
    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def tracking_uri_without_credentials(uri: str) -> str:
    """Move `user:password@` out of an http(s) tracking URI into MLflow's own credential
    variables (MLFLOW_TRACKING_USERNAME/PASSWORD, unless already set) and return the URI
    without them, so MLflow never prints or logs the password (e.g. in "View run at ...")
    and the Dagster UI never shows it as resource config."""
    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https") or parts.username is None:
        return uri
    os.environ.setdefault("MLFLOW_TRACKING_USERNAME", parts.username)
    if parts.password is not None:
        os.environ.setdefault("MLFLOW_TRACKING_PASSWORD", parts.password)
    return _without_userinfo(uri)


def _without_userinfo(uri: str) -> str:
    parts = urlsplit(uri)
    if parts.username is None and parts.password is None:
        return uri
    netloc = (parts.hostname or "") + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def is_not_found(error: Exception) -> bool:
    """An MLflow error saying a registered model, version or alias does not exist (as opposed
    to a server that cannot be reached, which must not read as "no champion yet")."""
    code = getattr(error, "error_code", None)
    return code == "RESOURCE_DOES_NOT_EXIST" or (
        code == "INVALID_PARAMETER_VALUE" and "not found" in str(error)
    )


def version_by_alias(client: MlflowClient, name: str, alias: str):
    """The model version holding `alias`, or None when the model or the alias does not exist."""
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException as error:
        if is_not_found(error):
            return None
        if error.error_code == "PERMISSION_DENIED" and _registered_model_missing(client, name):
            # MLflow's basic-auth app (the Docker stack) answers 403, not 404, to a non-admin
            # asking for an alias of a model that does not exist; get_registered_model still
            # says "not found" then, and a model that exists but may not be read stays a 403.
            return None
        raise


def _registered_model_missing(client: MlflowClient, name: str) -> bool:
    from mlflow.exceptions import MlflowException

    try:
        client.get_registered_model(name)
    except MlflowException as error:
        return is_not_found(error)
    return False


def _is_connection_failure(error: BaseException) -> bool:
    """Whether the error (or one it arose from) is a connection failure, a timeout or
    exhausted retries on 5xx answers: a server that is down, not a request it refused."""
    import requests

    transient = (
        requests.exceptions.ConnectionError,
        requests.exceptions.Timeout,
        requests.exceptions.RetryError,
        ConnectionError,
    )
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, (MlflowUnreachableError, *transient)):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


class MlflowResource(dg.ConfigurableResource):
    """Where runs, models and registered versions are stored. Each field with a setting of
    the same meaning takes its default, bounds and description from it (settings.py)."""

    tracking_uri: str
    experiment_name: str = setting_field("mlflow_experiment_name")
    # Only used when the experiment is created; None lets the tracking server decide.
    artifact_location: str | None = None
    registered_model_name: str = setting_field("mlflow_registered_model_name")
    # Base address of the MLflow UI for links in Dagster metadata; None: derived.
    ui_url: str | None = None
    ui_port: int = setting_field("mlflow_ui_port")
    # A tracking server that does not answer: probe attempts within one step attempt ...
    connect_attempts: int = setting_field("mlflow_connect_attempts")
    # ... then retries of the step by Dagster, waiting retry_delay_seconds, doubling each time.
    step_retries: int = setting_field("mlflow_step_retries")
    retry_delay_seconds: float = setting_field("mlflow_retry_delay_seconds")
    # MLflow's client retries each failed HTTP request itself; its defaults (7 retries,
    # backoff factor 2, 120 s timeout) keep one call against a dead server busy for about 4
    # minutes. The settings' defaults bound one call to about 10 s when the server refuses
    # connections. A value already in MLflow's own environment variables wins.
    http_settings: dict[str, str] = Field(default_factory=dict)

    @property
    def remote(self) -> bool:
        return self.tracking_uri.startswith(("http://", "https://"))

    @property
    def display_uri(self) -> str:
        return redact_uri(self.tracking_uri)

    def _apply_http_settings(self) -> None:
        for name, value in self.http_settings.items():
            os.environ.setdefault(name, value)

    def client(self) -> MlflowClient:
        # MLflow reads its HTTP settings on every request, so a cached client follows them.
        self._apply_http_settings()
        return _client(self.tracking_uri)

    def ensure_reachable(self) -> None:
        """Probe a tracking server's `/health` up to `connect_attempts` times (waiting 1, 2,
        4 ... s between); raise MlflowUnreachableError naming the setting and the URI. Any
        HTTP answer below 500 counts as reachable. Local stores (sqlite, file) pass."""
        if not self.remote:
            return
        import requests

        url = f"{self.tracking_uri.rstrip('/')}/health"
        attempts = max(1, self.connect_attempts)
        started = time.monotonic()
        problem = "no attempt made"
        for attempt in range(1, attempts + 1):
            try:
                response = requests.get(url, timeout=PROBE_TIMEOUT_SECONDS)
                if response.status_code < 500:
                    return
                problem = f"HTTP {response.status_code} from /health"
            except requests.RequestException as error:
                problem = f"{type(error).__name__}: {redact_uri(str(error))}"
            if attempt < attempts:
                time.sleep(2 ** (attempt - 1))
        raise MlflowUnreachableError(
            f"MLflow tracking server at {self.display_uri} is unreachable (setting "
            f"MLFLOW_TRACKING_URI) after {attempts} attempts over "
            f"{time.monotonic() - started:.1f} s; last error: {problem}. Start the server "
            "(or fix MLFLOW_TRACKING_URI) and re-run."
        )

    @contextmanager
    def outage_retries(
        self, context: dg.AssetExecutionContext | dg.AssetCheckExecutionContext
    ) -> Iterator[None]:
        """Probe the server, then run the block. When the server is unreachable (before or
        during the block), Dagster retries the step up to `step_retries` times, waiting
        `retry_delay_seconds` * 1, 2, 4 ...; then the step fails with the reason. Other
        errors (a request the server refused) fail at once."""
        try:
            self.ensure_reachable()
            yield
        except Exception as error:
            if not _is_connection_failure(error):
                raise
            reason = (
                error
                if isinstance(error, MlflowUnreachableError)
                else MlflowUnreachableError(
                    f"MLflow tracking server at {self.display_uri} stopped answering (setting "
                    f"MLFLOW_TRACKING_URI): {redact_uri(str(error))}"
                )
            )
        else:
            return
        retry_number = getattr(context, "op_execution_context", context).retry_number
        attempt = retry_number + 1
        wait = self.retry_delay_seconds * 2**retry_number
        if retry_number < self.step_retries:
            context.log.warning(
                f"Step attempt {attempt} of {self.step_retries + 1}: {reason} "
                f"Dagster retries the step in {wait:.0f} s."
            )
        # Raised from the reason, not the original error: MLflow's messages repeat the URI.
        raise dg.RetryRequested(max_retries=self.step_retries, seconds_to_wait=wait) from reason

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
        local = f"http://127.0.0.1:{self.ui_port}"
        base = self.ui_url or (self.tracking_uri if self.remote else local)
        return _without_userinfo(base).rstrip("/")

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

        self._apply_http_settings()
        mlflow.set_tracking_uri(self.tracking_uri)
        mlflow.set_registry_uri(self.tracking_uri)
