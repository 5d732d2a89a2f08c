import pytest

from training_assets.definitions import build_resources
from training_assets.project import PROJECT_DIR
from training_assets.settings import DOCS_PAGE, GROUPS, docs_page


def test_defaults_live_inside_the_repository(monkeypatch):
    for name in ("TRAINING_LABELS_PATH", "TRAINING_STORAGE_DIR", "MLFLOW_TRACKING_URI"):
        monkeypatch.delenv(name, raising=False)
    resources = build_resources()
    assert resources["labels"].path == str(PROJECT_DIR / "data" / "driver_orders.csv")
    assert resources["parquet_io_manager"].base_dir == str(PROJECT_DIR / "var" / "assets")
    assert resources["mlflow_tracking"].tracking_uri.startswith(f"sqlite:///{PROJECT_DIR}")


def test_a_threshold_that_is_not_a_number_names_the_setting(monkeypatch):
    monkeypatch.setenv("MODEL_MAX_MAE", "0,2")
    with pytest.raises(ValueError, match=r"MODEL_MAX_MAE='0,2' is not a number"):
        build_resources()


def test_thresholds_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("MODEL_MAX_RMSE", "0.15")
    assert build_resources()["thresholds"].max_rmse == 0.15


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("MODEL_MAX_RMSE", "-0.1", "must be a number above 0"),
        ("MODEL_MAX_MAE", "nan", "must be a number above 0"),
        ("MODEL_CHAMPION_TOLERANCE", "-1", "must be at least 0"),
        ("DATA_MIN_ROWS", "lots", "is not a whole number"),
        ("DATA_MIN_ROWS", "0", "must be at least 1"),
        ("DATA_DRIFT_BINS", "2.5", "is not a whole number"),
    ],
)
def test_a_setting_out_of_its_range_names_the_variable_and_value(monkeypatch, name, value, message):
    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=f"{name}={value!r} {message}"):
        build_resources()


@pytest.mark.parametrize("name", ["team/elastic-net", "elastic:net", "..", " "])
def test_a_model_name_mlflow_rejects_is_refused_before_the_run(monkeypatch, name):
    from mlflow.exceptions import MlflowException
    from mlflow.utils.validation import _validate_model_name

    # The same verdict as MLflow's own validation.
    with pytest.raises(MlflowException):
        _validate_model_name(name)
    monkeypatch.setenv("MLFLOW_REGISTERED_MODEL_NAME", name)
    with pytest.raises(ValueError, match="MLFLOW_REGISTERED_MODEL_NAME"):
        build_resources()


def test_a_model_name_mlflow_accepts_is_kept(monkeypatch):
    monkeypatch.setenv("MLFLOW_REGISTERED_MODEL_NAME", "team.elastic-net_v2 (prod)")
    assert (
        build_resources()["mlflow_tracking"].registered_model_name == "team.elastic-net_v2 (prod)"
    )


def test_the_settings_reference_is_generated_from_the_definitions():
    """docs/settings.md is `python -m training_assets.settings docs`: regenerate it when a
    setting changes."""
    assert DOCS_PAGE.read_text() == docs_page(), (
        "docs/settings.md is stale: run `.venv/bin/python -m training_assets.settings docs "
        "> docs/settings.md`"
    )


def test_every_setting_is_documented_with_its_default():
    page = docs_page()
    for group in GROUPS:
        for name, field in group.model_fields.items():
            assert f"`{name.upper()}`" in page
            assert field.description, name


def test_mlflow_http_settings_parse_as_mlflow_reads_them(monkeypatch):
    """The values set for MLflow's own variables must parse with MLflow's types (ints in 3.17:
    "1.0" for the backoff factor failed every request to a tracking server)."""
    from mlflow import environment_variables

    from training_assets.settings import MlflowSettings

    settings = MlflowSettings().http_settings
    assert settings
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
        getattr(environment_variables, name).get()
