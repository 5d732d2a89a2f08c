"""The MLflow resource's fault handling without an MLflow server: redaction, the probe (against
a closed port and a bare HTTP endpoint), error classification, step retries."""

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import dagster as dg
import pytest
import requests

from training_assets.resources.mlflow_tracking import (
    MlflowResource,
    MlflowUnreachableError,
    _is_connection_failure,
    is_not_found,
    redact_uri,
    tracking_uri_without_credentials,
    version_by_alias,
)
from training_assets_tests.support.processes import free_port


def test_credentials_leave_the_uri_for_mlflows_own_variables(monkeypatch):
    for name in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    clean = tracking_uri_without_credentials("https://bot:pa55@mlflow.internal:8443/base")
    assert clean == "https://mlflow.internal:8443/base"
    import os

    assert os.environ["MLFLOW_TRACKING_USERNAME"] == "bot"
    assert os.environ["MLFLOW_TRACKING_PASSWORD"] == "pa55"
    assert tracking_uri_without_credentials("sqlite:///x.db") == "sqlite:///x.db"
    assert redact_uri("http://bot:pa55@host:5000") == "http://bot:***@host:5000"


def test_model_version_links_carry_no_credentials():
    """From MLFLOW_UI_URL, and from the tracking URI when no UI address is set (the run and
    logged-model links share that base, but need a server for the experiment id)."""
    resource = MlflowResource(tracking_uri="http://127.0.0.1:5000", ui_url="http://u:p@ui:80")
    assert (
        resource.model_version_url("3")
        == "http://ui:80/#/models/sklearn-elastic-net-reg/versions/3"
    )
    derived = MlflowResource(tracking_uri="https://bot:pa55@mlflow.internal:8443")
    assert derived.model_version_url("3") == (
        "https://mlflow.internal:8443/#/models/sklearn-elastic-net-reg/versions/3"
    )


def test_probe_of_a_closed_port_fails_naming_the_setting_and_the_error():
    port = free_port()
    resource = MlflowResource(tracking_uri=f"http://127.0.0.1:{port}", connect_attempts=2)
    with pytest.raises(MlflowUnreachableError) as raised:
        resource.ensure_reachable()
    assert (
        f"MLflow tracking server at http://127.0.0.1:{port} is unreachable (setting "
        "MLFLOW_TRACKING_URI) after 2 attempts over"
    ) in str(raised.value)
    assert "last error: ConnectionError" in str(raised.value)
    MlflowResource(tracking_uri="sqlite:///nowhere.db").ensure_reachable()  # local: no probe


@contextmanager
def health_endpoint(status: int) -> Iterator[tuple[str, list[str]]]:
    """A real HTTP server on 127.0.0.1 answering every GET with `status`; yields its URI and
    the list of paths it was asked for."""
    asked: list[str] = []

    class Answer(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            asked.append(self.path)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", asked
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_probe_asks_connect_attempts_times_then_gives_up_with_the_last_answer():
    with health_endpoint(503) as (uri, asked):
        resource = MlflowResource(tracking_uri=uri, connect_attempts=2)
        with pytest.raises(MlflowUnreachableError) as raised:
            resource.ensure_reachable()
    assert asked == ["/health", "/health"]
    assert "after 2 attempts over" in str(raised.value)
    assert "last error: HTTP 503 from /health" in str(raised.value)


def test_any_answer_below_500_is_reachable_at_the_first_attempt():
    with health_endpoint(404) as (uri, asked):
        MlflowResource(tracking_uri=uri, connect_attempts=3).ensure_reachable()
    assert asked == ["/health"]


def test_only_connection_failures_count_as_an_outage():
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE, RESOURCE_DOES_NOT_EXIST

    wrapped = MlflowException("API request failed")
    wrapped.__context__ = requests.exceptions.ConnectionError("refused")
    assert _is_connection_failure(wrapped)
    rejected = MlflowException("bad name", error_code=INVALID_PARAMETER_VALUE)
    assert not _is_connection_failure(rejected)
    assert not is_not_found(rejected)
    assert is_not_found(MlflowException("alias x not found.", error_code=INVALID_PARAMETER_VALUE))
    assert is_not_found(MlflowException("no model", error_code=RESOURCE_DOES_NOT_EXIST))


class _BasicAuthAnswers:
    """What MLflow 3.17's basic-auth server answers a non-admin (checked against a real one,
    deploy/mlflow/entrypoint.sh): an alias of a model that does not exist is a 403; getting the
    model itself is a 404 with default_permission READ, a 403 where the user may not read it."""

    def __init__(self, model: str):
        self.model = model

    def get_model_version_by_alias(self, name, alias):
        from mlflow.exceptions import MlflowException
        from mlflow.protos.databricks_pb2 import PERMISSION_DENIED

        raise MlflowException("Response body: 'Permission denied'", error_code=PERMISSION_DENIED)

    def get_registered_model(self, name):
        from mlflow.exceptions import MlflowException
        from mlflow.protos.databricks_pb2 import PERMISSION_DENIED, RESOURCE_DOES_NOT_EXIST

        if self.model == "missing":
            raise MlflowException(f"{name} not found", error_code=RESOURCE_DOES_NOT_EXIST)
        if self.model == "unreadable":
            raise MlflowException("Permission denied", error_code=PERMISSION_DENIED)
        return object()


def test_no_champion_when_basic_auth_hides_a_missing_model_behind_a_403():
    from mlflow.exceptions import MlflowException

    assert version_by_alias(_BasicAuthAnswers("missing"), "m", "champion") is None
    # A model that exists (or that the user may not read) is a real refusal, not "no champion".
    for model in ("unreadable", "exists"):
        with pytest.raises(MlflowException, match="Permission denied"):
            version_by_alias(_BasicAuthAnswers(model), "m", "champion")


def test_an_outage_asks_dagster_to_retry_with_backoff_then_names_the_reason():
    port = free_port()
    resource = MlflowResource(
        tracking_uri=f"http://127.0.0.1:{port}",
        connect_attempts=1,
        step_retries=2,
        retry_delay_seconds=0.1,
    )

    @dg.asset
    def touches_mlflow(context: dg.AssetExecutionContext) -> None:
        with resource.outage_retries(context):
            raise AssertionError("not reached: the probe fails first")

    result = dg.materialize([touches_mlflow], raise_on_error=False)
    assert not result.success
    events = result.all_events
    assert sum(e.event_type_value == "STEP_UP_FOR_RETRY" for e in events) == 2
    waits = [
        e.event_specific_data.seconds_to_wait
        for e in events
        if e.event_type_value == "STEP_UP_FOR_RETRY"
    ]
    assert waits == [0.1, 0.2]  # exponential backoff
    [failure] = [e for e in events if e.event_type_value == "STEP_FAILURE"]
    error = failure.step_failure_data.error
    assert "Exceeded max_retries of 2" in error.message
    assert "is unreachable (setting MLFLOW_TRACKING_URI)" in error.cause.message
