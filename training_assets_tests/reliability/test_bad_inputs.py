"""Bad input through the real CLI: a non-zero exit, a message naming what is wrong, and
every earlier result intact.

One project copy is trained once (`trained`); each case then breaks one input or setting,
runs `dagster asset materialize --select '*'` as a user would, and compares fingerprints of
the stored asset values and of the MLflow registry taken before and after. The inputs are
restored after every case, so the cases are independent of their order.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from training_assets_tests.support.fingerprints import assert_intact, project_fingerprint
from training_assets_tests.support.processes import free_port
from training_assets_tests.support.project import (
    MATERIALIZE,
    SMALL_SAMPLE,
    Project,
    copy_feature_repo,
)

pytestmark = pytest.mark.slow

INPUT_DIRS = ("data", "feature_repo")


# Settings the pipeline reads. The CLI gets those of the project copy and of the case only,
# not ones exported in the shell that started pytest (a developer's MLFLOW_TRACKING_URI or
# MODEL_MAX_RMSE would change what a case tests and what it may touch). What in-process tests
# set is undone after each test by conftest's `process_state_isolation`.
PIPELINE_SETTINGS = ("MLFLOW_", "MODEL_", "DATA_", "TRAINING_", "FEAST_", "DRIVER_STATS_PATH")


def user_environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(PIPELINE_SETTINGS)}


def run_cli(project: Project, env: dict[str, str], config: dict | None = None):
    command = list(MATERIALIZE)
    if config is not None:
        command += ["--config-json", json.dumps(config)]
    return subprocess.run(
        command,
        cwd=project.root,
        env={**user_environment(), **project.env(), **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Project:
    """A project copy whose whole graph ran once: stored values and a registered champion."""
    from training_assets.sample_data import write_sample_data

    project = Project(tmp_path_factory.mktemp("bad-inputs"))
    copy_feature_repo(project.feature_repo)
    write_sample_data(project.root / "data", SMALL_SAMPLE)
    (project.root / "var" / "dagster_home").mkdir(parents=True)
    result = run_cli(project, {})
    assert result.returncode == 0, result.stderr[-3000:]
    for name in INPUT_DIRS:
        shutil.copytree(project.root / name, project.root / "pristine" / name)
    return project


def restore_inputs(project: Project) -> None:
    for name in INPUT_DIRS:
        shutil.rmtree(project.root / name)
        shutil.copytree(project.root / "pristine" / name, project.root / name)


# ---- helpers that break one input -------------------------------------------------------


def edit_labels(change: Callable[[pd.DataFrame], pd.DataFrame]) -> Callable[[Project], None]:
    def apply(project: Project) -> None:
        frame = pd.read_csv(project.labels_path, sep="\t", dtype=str)
        change(frame).to_csv(project.labels_path, sep="\t", index=False)

    return apply


def set_label_cell(column: str, value: str, row: int = 3) -> Callable[[Project], None]:
    def change(frame: pd.DataFrame) -> pd.DataFrame:
        frame.loc[row, column] = value
        return frame

    return edit_labels(change)


def edit_features(change: Callable[[pa.Table], pa.Table]) -> Callable[[Project], None]:
    def apply(project: Project) -> None:
        table = pq.read_table(project.features_path)
        pq.write_table(change(table), project.features_path)

    return apply


def set_feature_value(column: str, value: float) -> Callable[[Project], None]:
    """One driver's every feature row gets `value`, so each of its labels receives it."""

    def change(table: pa.Table) -> pa.Table:
        driver = table["driver_id"][0]
        mask = pc.equal(table["driver_id"], driver)
        values = pc.if_else(mask, pa.scalar(value, table[column].type), table[column])
        return table.set_column(table.column_names.index(column), column, values)

    return edit_features(change)


def write_text(relative: str, text: str, append: bool = False) -> Callable[[Project], None]:
    def apply(project: Project) -> None:
        path = project.root / relative
        with open(path, "a" if append else "w") as handle:
            handle.write(text)

    return apply


def remove(relative: str) -> Callable[[Project], None]:
    def apply(project: Project) -> None:
        (project.root / relative).unlink()

    return apply


def nothing(project: Project) -> None:
    """The inputs stay as they are; the case breaks a setting or the run config."""


@dataclass(frozen=True)
class BadInput:
    id: str
    apply: Callable[[Project], None]
    # Substrings the CLI output must contain: what is wrong and where ({root} = project root).
    expect: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)
    config: dict | None = None


def split_config(**values) -> dict:
    return {"ops": {"train_test_sets": {"config": values}}}


def model_config(**values) -> dict:
    return {"ops": {"model": {"config": values}}}


LABELS = "{root}/data/driver_orders.csv"
FEATURES = "{root}/data/driver_stats.parquet"

CASES = [
    BadInput(
        "labels_missing",
        remove("data/driver_orders.csv"),
        ("Labels file not found", LABELS, "TRAINING_LABELS_PATH"),
    ),
    BadInput(
        "labels_header_only",
        write_text("data/driver_orders.csv", "event_timestamp\tdriver_id\ttrip_completed\n"),
        (LABELS, "has a header but no rows"),
    ),
    BadInput(
        "labels_wrong_delimiter",
        lambda p: pd.read_csv(p.labels_path, sep="\t").to_csv(p.labels_path, index=False),
        (LABELS, "lacks column(s)", "looks ','-separated"),
    ),
    BadInput(
        "labels_missing_column",
        edit_labels(lambda frame: frame.drop(columns=["trip_completed"])),
        (LABELS, "lacks column(s) ['trip_completed']"),
    ),
    BadInput(
        "labels_non_integer_label",
        set_label_cell("trip_completed", "yes"),
        (LABELS, "column 'trip_completed'", "'yes'", "line 5"),
    ),
    BadInput(
        "labels_out_of_domain_label",
        set_label_cell("trip_completed", "5"),
        (LABELS, "column 'trip_completed'", "outside {0, 1}", "5", "line 5"),
    ),
    BadInput(
        "labels_unparseable_timestamp",
        set_label_cell("event_timestamp", "yesterday at noon"),
        (LABELS, "column 'event_timestamp'", "'yesterday at noon'", "line 5"),
    ),
    BadInput(
        "labels_in_the_future",
        set_label_cell("event_timestamp", "2100-01-01T00:00:00+00:00"),
        (LABELS, "column 'event_timestamp'", "in the future", "2100-01-01", "line 5"),
    ),
    BadInput(
        "labels_unknown_driver",
        set_label_cell("driver_id", "987654"),
        ("driver_id", "987654", FEATURES, "no feature rows"),
    ),
    BadInput(
        "labels_non_integer_driver",
        set_label_cell("driver_id", "driver-7"),
        (LABELS, "column 'driver_id'", "'driver-7'", "line 5"),
    ),
    BadInput(
        "features_missing",
        remove("data/driver_stats.parquet"),
        ("Feature source not found", FEATURES, "DRIVER_STATS_PATH"),
    ),
    BadInput(
        "features_corrupt_parquet",
        write_text("data/driver_stats.parquet", "this is not parquet\n" * 50),
        (FEATURES, "not a readable Parquet file"),
    ),
    BadInput(
        "features_missing_column",
        edit_features(lambda table: table.drop_columns(["acc_rate"])),
        (FEATURES, "acc_rate"),
    ),
    BadInput(
        "features_wrong_type",
        edit_features(
            lambda table: table.set_column(
                table.column_names.index("conv_rate"),
                "conv_rate",
                table["conv_rate"].cast(pa.string()),
            )
        ),
        (FEATURES, "column 'conv_rate'", "string", "Float32"),
    ),
    BadInput(
        "features_negative_value",
        set_feature_value("conv_rate", -0.5),
        (FEATURES, "column 'conv_rate'", "-0.5", "[0.0, 1.0]"),
    ),
    BadInput(
        "features_nan_value",
        set_feature_value("acc_rate", float("nan")),
        (FEATURES, "column 'acc_rate'", "NaN"),
    ),
    BadInput(
        "feature_repo_does_not_parse",
        write_text("feature_repo/driver_features.py", "\ndef broken(:\n", append=True),
        (
            "`feast apply` failed in {root}/feature_repo ({root}/feature_repo/driver_features.py, "
            "line ",
            "SyntaxError",
        ),
    ),
    BadInput(
        "feature_store_yaml_unknown_store",
        lambda p: (p.feature_repo / "feature_store.yaml").write_text(
            (p.feature_repo / "feature_store.yaml")
            .read_text()
            .replace("asof_store.DuckDBAsOfOfflineStore", "asof_store.NoSuchStore")
        ),
        (
            "`feast apply` failed in {root}/feature_repo ({root}/feature_repo/feature_store.yaml)",
            "NoSuchStore",
        ),
    ),
    BadInput(
        "test_size_above_one",
        nothing,
        ("test_size", "1.5"),
        config=split_config(test_size=1.5),
    ),
    BadInput(
        "test_size_zero",
        nothing,
        ("test_size", "0"),
        config=split_config(test_size=0.0),
    ),
    BadInput(
        "alpha_negative",
        nothing,
        ("alpha", "-1"),
        config=model_config(alpha=-1.0),
    ),
    BadInput(
        "l1_ratio_above_one",
        nothing,
        ("l1_ratio", "1.5"),
        config=model_config(l1_ratio=1.5),
    ),
    BadInput(
        "config_field_misspelt",
        nothing,
        ("alpah",),
        config=model_config(alpah=0.1),
    ),
    BadInput(
        "threshold_not_a_number",
        nothing,
        ("MODEL_MAX_RMSE", "'zero point two'", "not a number"),
        env={"MODEL_MAX_RMSE": "zero point two"},
    ),
    BadInput(
        "threshold_negative",
        nothing,
        ("MODEL_MAX_MAE", "-0.1"),
        env={"MODEL_MAX_MAE": "-0.1"},
    ),
    BadInput(
        "min_rows_not_an_integer",
        nothing,
        ("DATA_MIN_ROWS", "'lots'", "not a whole number"),
        env={"DATA_MIN_ROWS": "lots"},
    ),
    BadInput(
        "mlflow_tracking_uri_unreachable",
        nothing,
        ("MLFLOW_TRACKING_URI", "http://127.0.0.1:{port}", "unreachable"),
        # Fewer attempts than the defaults keep the case short; test_mlflow_outage.py
        # covers the retries themselves.
        env={
            "MLFLOW_TRACKING_URI": "http://127.0.0.1:{port}",
            "MLFLOW_CONNECT_ATTEMPTS": "2",
            "MLFLOW_STEP_RETRIES": "0",
        },
    ),
    BadInput(
        "registered_model_name_rejected",
        nothing,
        ("MLFLOW_REGISTERED_MODEL_NAME", "'team/elastic:net'"),
        env={"MLFLOW_REGISTERED_MODEL_NAME": "team/elastic:net"},
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_input_fails_clearly_and_loses_nothing(trained: Project, case: BadInput):
    port = str(free_port())  # nothing listens there

    def fill(text: str) -> str:
        return text.replace("{root}", str(trained.root)).replace("{port}", port)

    before = project_fingerprint(trained)
    case.apply(trained)
    try:
        env = {name: fill(value) for name, value in case.env.items()}
        result = run_cli(trained, env, case.config)
    finally:
        restore_inputs(trained)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-3000:]
    for expected in case.expect:
        assert fill(expected) in output, f"{fill(expected)!r} not in:\n{output[-4000:]}"
    assert_intact(before, project_fingerprint(trained))


def test_timestamps_without_a_timezone_are_taken_as_utc_with_a_warning(trained: Project):
    """The one doubtful input that is accepted: zone-less times are UTC, and the log says so."""

    def strip_zone(frame: pd.DataFrame) -> pd.DataFrame:
        frame["event_timestamp"] = frame["event_timestamp"].str.replace(
            r"(?:Z|[+-]\d{2}:?\d{2})$", "", regex=True
        )
        return frame

    before = pd.read_parquet(trained.stored("training_frame"))
    edit_labels(strip_zone)(trained)
    try:
        result = run_cli(trained, {})
    finally:
        restore_inputs(trained)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "have no timezone, e.g. '" in result.stderr
    assert "they are taken as UTC" in result.stderr
    # The sample labels are written in UTC: read as UTC, the frame is the same.
    after = pd.read_parquet(trained.stored("training_frame"))
    pd.testing.assert_frame_equal(after, before)
