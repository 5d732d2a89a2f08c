"""Every setting of the pipeline, defined once: name, type, default, bounds, description.

Settings are environment variables (an empty value counts as unset). Each group below is a
pydantic-settings model: the field name upper-cased is the variable, the field carries the
type, the default (always inside the repository, so a fresh clone needs none), the bounds and
the description. From these models the resources are built (`definitions.build_resources`),
bad values are refused with a message naming the variable and the value (`SettingError`), and
the reference page `docs/settings.md` is generated (`python -m training_assets.settings docs`;
a test fails when the page is stale).

Why pydantic-settings rather than Dagster's `EnvVar`: an `EnvVar` has no default (an unset
variable is an error) and no bounds, and it is resolved only when a run starts, so a bad
value would surface inside a step. The pipeline's settings need defaults that work on a fresh
clone, bounds checked when the code location loads, and values for code that is not a
resource (sensor intervals, the schedule, the Makefile's ports), which `EnvVar` cannot give.

    python -m training_assets.settings docs            # print the reference page
    python -m training_assets.settings value NAME      # print one setting's value
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from training_assets.project import PROJECT_DIR

DOCS_PAGE = PROJECT_DIR / "docs" / "settings.md"


class SettingError(ValueError):
    """An environment variable holds a value the pipeline cannot use; names the variable."""


def _in_project(relative: str) -> Path:
    return PROJECT_DIR / relative


class _Group(BaseSettings):
    """A group of settings read from the environment; values validated on construction."""

    model_config = SettingsConfigDict(env_ignore_empty=True, extra="ignore", frozen=True)
    title: ClassVar[str]
    about: ClassVar[str] = ""

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as error:
            raise SettingError(_explain(error)) from None

    @field_validator("*", mode="after")
    @classmethod
    def _absolute(cls, value: Any) -> Any:
        # Relative paths in the environment are relative to the working directory.
        return value.resolve() if isinstance(value, Path) else value


def _explain(error: ValidationError) -> str:
    """The first problem as `Setting NAME='value' <what is wrong>`."""
    problem = error.errors()[0]
    name = str(problem["loc"][0]).upper() if problem["loc"] else "?"
    value = problem.get("input")
    context = problem.get("ctx") or {}
    kind = problem["type"]
    if kind in ("float_parsing", "float_type"):
        what = "is not a number"
    elif kind in ("int_parsing", "int_type", "int_from_float"):
        what = "is not a whole number"
    elif kind in ("greater_than", "finite_number"):
        what = f"must be a number above {_number(context.get('gt', 0))}"
    elif kind == "greater_than_equal":
        what = f"must be at least {_number(context['ge'])}"
    elif kind == "less_than_equal":
        what = f"must be at most {_number(context['le'])}"
    elif kind == "bool_parsing":
        what = "is not a yes/no value (use 1 or 0)"
    else:
        what = problem["msg"].removeprefix("Value error, ")
    return f"Setting {name}={value!r} {what}."


def _number(value: float) -> str:
    return f"{value:g}"


class InputSettings(_Group):
    title = "Inputs"
    about = "The labels, the feature source and the Feast repository."

    training_labels_path: Path = Field(
        default=_in_project("data/driver_orders.csv"),
        description="Tab-separated labels: `event_timestamp`, `driver_id`, `trip_completed`.",
    )
    driver_stats_path: Path = Field(
        default=_in_project("data/driver_stats.parquet"),
        description=(
            "The Parquet source of Feast's `driver_stats` view (read by "
            "`feature_repo/driver_features.py` at `feast apply`)."
        ),
    )
    feast_repo_path: Path = Field(
        default=_in_project("feature_repo"), description="The Feast feature repository."
    )
    feast_always_apply: bool = Field(
        default=False,
        description=(
            "`1`: run `feast apply` on every materialization of `feast_registry`, even when "
            "nothing it reads changed."
        ),
    )


class StorageSettings(_Group):
    title = "Local state"
    about = (
        "Where runs, asset values and the local MLflow store live. Point `TRAINING_STATE_DIR` "
        "elsewhere to keep a second dataset (its champion, drift baseline and runs) apart."
    )

    training_state_dir: Path = Field(
        default=_in_project("var"),
        description="Root of all local state; the settings below default to folders in it.",
    )
    training_storage_dir: Path | None = Field(
        default=None,
        description="Stored asset values (Parquet, JSON).",
        json_schema_extra={"default_doc": "<TRAINING_STATE_DIR>/assets"},
    )
    training_mlflow_dir: Path | None = Field(
        default=None,
        description="The local MLflow store: `mlflow.db` and `artifacts/`.",
        json_schema_extra={"default_doc": "<TRAINING_STATE_DIR>/mlflow"},
    )
    dagster_home: Path | None = Field(
        default=None,
        description=(
            "Dagster's instance: run history, event logs, `dagster.yaml` (copied from the "
            "repository's on first use)."
        ),
        json_schema_extra={"default_doc": "<TRAINING_STATE_DIR>/dagster_home"},
    )

    training_keep_versions: int = Field(
        default=5,
        ge=1,
        description=(
            "`make gc` keeps this many newest stored versions of each asset, plus every "
            "version a registered model version was trained or tested on."
        ),
    )

    @property
    def storage_dir(self) -> Path:
        return self.training_storage_dir or self.training_state_dir / "assets"

    @property
    def mlflow_dir(self) -> Path:
        return self.training_mlflow_dir or self.training_state_dir / "mlflow"

    @property
    def home(self) -> Path:
        return self.dagster_home or self.training_state_dir / "dagster_home"


class MlflowSettings(_Group):
    title = "MLflow"
    about = "Tracking store, model registry and how long to wait for a tracking server."

    mlflow_tracking_uri: str | None = Field(
        default=None,
        description=(
            "MLflow tracking and registry, e.g. `http://127.0.0.1:5000`. Credentials: "
            "`MLFLOW_TRACKING_USERNAME`/`MLFLOW_TRACKING_PASSWORD` (MLflow's own variables); "
            "`http://user:password@host` also works and the pipeline moves them there, so "
            "they never appear in logs, metadata or the UI."
        ),
        json_schema_extra={"default_doc": "sqlite:///<TRAINING_MLFLOW_DIR>/mlflow.db"},
    )
    mlflow_artifact_location: str | None = Field(
        default=None,
        description=(
            "Artifact root of a newly created experiment (a tracking server decides its own)."
        ),
        json_schema_extra={"default_doc": "<TRAINING_MLFLOW_DIR>/artifacts"},
    )
    mlflow_experiment_name: str = Field(
        default="elastic-net", description="The MLflow experiment of the training runs."
    )
    mlflow_registered_model_name: str = Field(
        default="sklearn-elastic-net-reg", description="The registered model in the registry."
    )
    mlflow_ui_port: int = Field(
        default=5000, ge=1, le=65535, description="Port of `make mlflow-ui` (on 127.0.0.1)."
    )
    mlflow_ui_url: str | None = Field(
        default=None,
        description="Base of the MLflow links in Dagster metadata.",
        json_schema_extra={
            "default_doc": "the tracking server, or http://127.0.0.1:<MLFLOW_UI_PORT>"
        },
    )
    mlflow_connect_attempts: int = Field(
        default=3,
        ge=1,
        description=(
            "Probes of a tracking server's `/health` at the start of each MLflow step "
            "(waits 1, 2 s between; 5 s timeout each)."
        ),
    )
    mlflow_step_retries: int = Field(
        default=2, ge=0, description="Dagster retries of an MLflow step while it is unreachable."
    )
    mlflow_retry_delay_seconds: float = Field(
        default=10, ge=0, description="Wait before the first such retry, doubling each time."
    )
    mlflow_http_request_max_retries: int = Field(
        default=3,
        ge=0,
        description="MLflow's client retries of each HTTP request (MLflow's own default: 7).",
    )
    # Whole numbers: MLflow 3.17 parses both variables with int(); "1.0" fails every request.
    mlflow_http_request_backoff_factor: int = Field(
        default=1, ge=0, description="Backoff factor of those retries (MLflow's own: 2)."
    )
    mlflow_http_request_timeout: int = Field(
        default=30, gt=0, description="Seconds per HTTP request (MLflow's own: 120)."
    )

    @field_validator("mlflow_registered_model_name")
    @classmethod
    def _mlflow_accepts(cls, name: str) -> str:
        """MLflow's own rule (`mlflow.utils.validation._validate_model_name`, MLflow 3.17):
        not empty, no '/' or ':', unchanged by path normalisation. Checked without importing
        MLflow, so a bad name stops the run before anything is trained."""
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
                "is not a valid MLflow registered model name: it must not be empty, contain "
                "'/' or ':', or be a path like '.' or '..'"
            )
        return name

    @property
    def http_settings(self) -> dict[str, str]:
        """MLflow's own variables, set for the process unless the environment has them."""
        return {
            "MLFLOW_HTTP_REQUEST_MAX_RETRIES": str(self.mlflow_http_request_max_retries),
            "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": str(self.mlflow_http_request_backoff_factor),
            "MLFLOW_HTTP_REQUEST_TIMEOUT": str(self.mlflow_http_request_timeout),
        }


class DataValidationSettings(_Group):
    title = "Data validation"
    about = "Thresholds of the data checks on `training_frame` and the splits."

    data_min_rows: int = Field(
        default=100, ge=1, description="Fewest rows `training_frame` may have."
    )
    data_drift_max_psi: float = Field(
        default=0.2,
        gt=0,
        description=(
            "Population stability index above which a feature has drifted (< 0.1 stable, "
            "0.1-0.25 moderate shift, > 0.25 major shift)."
        ),
    )
    data_drift_bins: int = Field(
        default=10, ge=2, le=100, description="Quantile bins of the drift baseline per feature."
    )
    data_validation_examples: int = Field(
        default=5, ge=1, le=100, description="Offending values shown per failed expectation."
    )
    training_validation_dir: Path | None = Field(
        default=None,
        description="The full Great Expectations result of each check.",
        json_schema_extra={"default_doc": "<TRAINING_STORAGE_DIR>/validation"},
    )


class ModelValidationSettings(_Group):
    title = "Model validation"
    about = "The gates between a trained model and the registry."

    model_max_rmse: float = Field(default=0.2, gt=0, description="Largest acceptable test RMSE.")
    model_max_mae: float = Field(default=0.2, gt=0, description="Largest acceptable test MAE.")
    model_champion_tolerance: float = Field(
        default=0.0,
        ge=0,
        description=(
            "The challenger passes when the upper bound of the interval for (challenger RMSE "
            "- champion RMSE) is at most this: 0 = not worse, with the confidence below."
        ),
    )
    model_comparison_min_rows: int = Field(
        default=200,
        ge=1,
        description=(
            "Fewest rows, neither model trained on, that champion and challenger must be "
            "compared on; fewer fails the check."
        ),
    )
    model_bootstrap_resamples: int = Field(
        default=2000, ge=100, description="Paired bootstrap resamples of the comparison."
    )
    model_confidence_level: float = Field(
        default=0.95, gt=0.5, lt=1, description="Confidence level of the comparison's interval."
    )
    model_bootstrap_seed: int = Field(
        default=17, ge=0, description="Seed of the bootstrap: the same data, the same interval."
    )
    model_max_p95_ms_single_row: float = Field(
        default=50, gt=0, description="p95 latency limit of a one-row prediction (warns only)."
    )
    model_max_p95_ms_1000_rows: float = Field(
        default=200, gt=0, description="p95 latency limit of a 1,000-row prediction (warns only)."
    )


class AutomationSettings(_Group):
    title = "Automation"
    about = "Sensors and the schedule (all stopped until turned on)."

    retrain_sensor_interval_seconds: int = Field(
        default=30, ge=1, description="How often the retraining sensors look at the inputs."
    )
    retrain_settle_seconds: float = Field(
        default=10,
        ge=0,
        description="A changed input is left alone until it has been quiet this long.",
    )
    retrain_schedule: str = Field(
        default="0 3 * * 1", description="Cron schedule of `weekly_retrain`."
    )
    retrain_timezone: str = Field(default="UTC", description="Time zone of the schedule.")
    training_failure_log: Path | None = Field(
        default=None,
        description="Where `report_run_failure` appends a JSON line per failed run.",
        json_schema_extra={"default_doc": "<TRAINING_STATE_DIR>/run_failures.jsonl"},
    )


class ScaleSettings(_Group):
    title = "Large data"
    about = (
        "Where the pipeline stops holding the frame in pandas. Small frames are validated by "
        "Great Expectations in pandas and fitted by scikit-learn as they always were; larger "
        "ones are validated by DuckDB over the stored Parquet and fitted from statistics "
        "streamed over its row groups (docs/performance.md)."
    )

    # Measured (benchmarks/README.md): at 1M rows the out-of-core path took 17.7 s and
    # 0.7 GB for the whole graph, GX's pandas engine 27.9 s and 1.3 GB; at 100k both ~18 s.
    # Below this, the sample data and small projects keep GX's own engine.
    training_out_of_core_rows: int = Field(
        default=250_000,
        ge=0,
        description=(
            "Frames with more rows than this are checked in DuckDB and fitted out of core "
            "(same expectations, same model to ~1e-15)."
        ),
    )
    training_duckdb_memory_limit: str = Field(
        default="2GB", description="DuckDB's memory limit in the checks (it spills beyond)."
    )


class OperatorSettings(_Group):
    title = "Running it"
    about = "What `make run`, `make dev` and `make mlflow-ui` do."

    training_run_output: Literal["summary", "full"] = Field(
        default="summary",
        description=(
            "`summary`: `make run` writes Dagster's log to `<TRAINING_STATE_DIR>/logs/` and "
            "prints a short summary; `full`: it prints the whole log too."
        ),
    )
    dagster_ui_port: int = Field(
        default=3000, ge=1, le=65535, description="Port of `make dev` (on 127.0.0.1)."
    )


class SparkSettings(_Group):
    title = "Spark"
    about = (
        "Which engine runs the heavy steps (`training_frame`, the split, the fit, the metrics) "
        "and, for Spark, where and with how much. The asset graph, its checks and the registry "
        "are the same either way; see [spark.md](spark.md)."
    )

    training_engine: Literal["duckdb", "spark"] = Field(
        default="duckdb",
        description=(
            "`duckdb`: everything in the run's own process (DuckDB join, scikit-learn). "
            "`spark`: the join, split, fit and metrics on Spark (`SPARK_MASTER`); needs the "
            "`spark` extra (`uv sync --extra spark`) and Java 17+."
        ),
    )
    spark_master: str = Field(
        default="local[2]",
        description=(
            "Where Spark runs: `local[N]` (N threads in one JVM the run starts), "
            "`spark://host:7077` (a standalone cluster), `k8s://https://host:443` or `yarn`."
        ),
    )
    spark_driver_memory: str = Field(
        default="1g",
        description=(
            "Heap of the Spark driver (the JVM the run starts; with `local[N]` it does all "
            "the work)."
        ),
    )
    spark_driver_cores: int = Field(
        default=1, ge=1, description="Cores of the driver (used in cluster deploy mode only)."
    )
    spark_executor_memory: str = Field(
        default="1g", description="Heap of each executor (JVM memory size: `512m`, `4g`)."
    )
    spark_executor_cores: int = Field(default=1, ge=1, description="Cores of each executor.")
    spark_cores_max: int | None = Field(
        default=None,
        ge=1,
        description=(
            "Most cores the run takes from a standalone cluster in all (`spark.cores.max`)."
        ),
        json_schema_extra={"default_doc": "every free core"},
    )
    spark_shuffle_partitions: int = Field(
        default=8,
        ge=1,
        description=(
            "Partitions after a shuffle (`spark.sql.shuffle.partitions`; Spark's own default "
            "200 makes tiny tasks): about 2-4 per executor core, more for 100M+ rows."
        ),
    )
    spark_shared_dir: Path | None = Field(
        default=None,
        description=(
            "Where the frames Spark writes and reads are stored (`training_frame`, "
            "`train_set`, `test_set` versions): a path the driver and every executor see at "
            "the same place (a shared mount on a real cluster). The feature source and the "
            "labels file must be readable from the executors too."
        ),
        json_schema_extra={"default_doc": "<TRAINING_STORAGE_DIR>"},
    )

    @field_validator("spark_master")
    @classmethod
    def _a_master_url(cls, master: str) -> str:
        import re

        forms = r"local(\[(\d+|\*)(,\d+)?\])?|spark://\S+|k8s://\S+|yarn|mesos://\S+"
        if not re.fullmatch(forms, master):
            raise ValueError(
                "is not a Spark master URL: use local[2], spark://host:7077, "
                "k8s://https://host:443 or yarn"
            )
        return master

    @field_validator("spark_driver_memory", "spark_executor_memory")
    @classmethod
    def _a_memory_size(cls, size: str) -> str:
        import re

        if not re.fullmatch(r"\d+[kmgt]?", size.lower()):
            raise ValueError("is not a JVM memory size such as 512m or 2g")
        return size.lower()

    def shared_dir(self, storage: StorageSettings) -> Path:
        return self.spark_shared_dir or storage.storage_dir


GROUPS: tuple[type[_Group], ...] = (
    InputSettings,
    StorageSettings,
    MlflowSettings,
    DataValidationSettings,
    ModelValidationSettings,
    AutomationSettings,
    ScaleSettings,
    OperatorSettings,
    SparkSettings,
)


def _default_text(field: Any) -> str:
    extra = field.json_schema_extra or {}
    if "default_doc" in extra:
        return str(extra["default_doc"])
    default = field.default
    if isinstance(default, Path):
        return default.relative_to(PROJECT_DIR).as_posix()
    if isinstance(default, bool):
        return "1" if default else "0"
    return str(default)


def _bounds_text(field: Any) -> str:
    words = []
    for item in field.metadata:
        for attribute, sign in (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<=")):
            value = getattr(item, attribute, None)
            if value is not None:
                words.append(f"{sign} {value}")
    return ", ".join(words)


def docs_page() -> str:
    """The settings reference, generated from the models above (docs/settings.md)."""
    lines = [
        "# Settings",
        "",
        "<!-- Generated by `python -m training_assets.settings docs > docs/settings.md`; "
        "edit training_assets/settings.py instead. -->",
        "",
        "Environment variables, read when the code location loads (an empty value counts as "
        "unset). Every default lies inside the repository, so a fresh clone needs none. A bad "
        "value stops the run before anything is stored, with a message naming the variable, "
        "e.g. `Setting MODEL_MAX_RMSE='abc' is not a number.`",
        "",
        "Run configuration (hyperparameters, the split) is not here: it is per run, in the "
        "Dagster Launchpad or `--config` (see [model-registry.md](model-registry.md)).",
    ]
    for group in GROUPS:
        lines += ["", f"## {group.title}", "", group.about, ""]
        lines += ["| variable | default | bounds | what |", "|---|---|---|---|"]
        for name, field in group.model_fields.items():
            cells = [
                f"`{name.upper()}`",
                f"`{_default_text(field)}`",
                _bounds_text(field),
                (field.description or "").replace("|", "\\|"),
            ]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def setting_field(name: str) -> Any:
    """Setting `name`'s field (default, bounds, description), for a resource field that
    holds the same value: the resource then validates it by the same definition."""
    for group in GROUPS:
        if name in group.model_fields:
            return copy.deepcopy(group.model_fields[name])
    raise KeyError(name)


def value(name: str) -> Any:
    """The effective value of one setting, validating only its group."""
    for group in GROUPS:
        if name.lower() in group.model_fields:
            return getattr(group(), name.lower())
    raise SettingError(f"No setting named {name}.")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args == ["docs"]:
        sys.stdout.write(docs_page())
        return 0
    if len(args) == 2 and args[0] == "value":
        try:
            print(value(args[1]))
        except SettingError as error:
            print(error, file=sys.stderr)
            return 2
        return 0
    print(__doc__.split("\n\n")[-1], file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
