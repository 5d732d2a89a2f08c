import pytest

from training_assets.definitions import build_resources
from training_assets.project import PROJECT_DIR


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
