"""What the `model` and `model_metrics` steps log to MLflow, without MLflow's slow paths.

Same content as MLflow's defaults, computed cheaply:
- schemas (model signature, dataset schema): MLflow decides a column's type from its dtype
  and whether it is required by testing every value in Python (about 2.5 s per 800k-row
  frame). `schema_sample` is a few rows with the same dtypes and the same columns holding
  missing values, so the inferred schema is the same as from the whole frame;
- the model's pip requirements: named instead of inferred (MLflow otherwise runs `uv export`
  or a subprocess that captures imports, and lists all ~170 packages of the environment,
  Dagster and Feast included); just what loading the model needs;
- a loaded model is cached per URI within the process (a logged model never changes), so
  the steps and checks of one run load it once.
"""

from __future__ import annotations

from functools import cache
from importlib import metadata
from typing import TYPE_CHECKING, Any

import pandas as pd

from training_assets.io_managers.files import STORED_ATTR, StoredVersion, content_hash

if TYPE_CHECKING:
    from mlflow.pyfunc import PyFuncModel

_SAMPLE_ROWS = 100
# What loading a logged scikit-learn model needs (MLflow adds itself).
MODEL_REQUIREMENTS = ("scikit-learn", "skops", "numpy", "scipy")


def schema_sample(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows of `frame` from which MLflow infers the same schema as from all of it."""
    if any(pd.api.types.is_object_dtype(dtype) for dtype in frame.dtypes):
        return frame  # object columns: MLflow looks at the values themselves
    rows = [frame.head(_SAMPLE_ROWS)]
    for name in frame.columns:
        missing = frame[name].isna().to_numpy().nonzero()[0]
        if len(missing):
            rows.append(frame.iloc[missing[:1]])
    return pd.concat(rows) if len(rows) > 1 else rows[0]


def pip_requirements() -> list[str]:
    return [f"{name}=={metadata.version(name)}" for name in MODEL_REQUIREMENTS]


def log_dataset(frame: pd.DataFrame, name: str, role: str, target: str) -> None:
    """The frame as an MLflow dataset input of the active run: the immutable file it was
    loaded from (its stored version), its content hash as digest, schema and profile (rows,
    elements), as `mlflow.data.from_pandas` records them. The digest covers every row
    (MLflow's own hashes the first 10,000 and maps every value's type in Python) and is the
    one the stored file records, so nothing is hashed twice."""
    import mlflow
    from mlflow.models import infer_signature

    stored = frame.attrs.get(STORED_ATTR)
    source = stored.path if stored else name
    digest = stored.content_hash if stored and stored.content_hash else content_hash(frame)
    # MLflow keeps one dataset per (name, digest) and experiment: a later run with the same
    # content would be linked to the first run's file. Named after the stored version, each
    # run's dataset points at its own immutable file.
    if stored:
        name = f"{name}@{stored.run_id[:8]}"
    dataset = mlflow.data.from_pandas(
        frame, source=source, targets=target, name=name, digest=digest
    )
    # `PandasDataset.schema` is a cached property: set, MLflow does not scan every value.
    dataset.__dict__["schema"] = infer_signature(schema_sample(frame)).inputs
    mlflow.log_input(dataset, context=role)


def log_stored_dataset(
    stored: StoredVersion, head: pd.DataFrame, rows: int, name: str, role: str, target: str
) -> None:
    """A stored set too big to load, as an MLflow dataset: its file, its content hash, the
    schema of its first rows, and its real row count."""
    import mlflow
    from mlflow.data.pandas_dataset import PandasDataset
    from mlflow.models import infer_signature

    class StoredSet(PandasDataset):
        @property
        def profile(self) -> dict[str, int]:
            return {"num_rows": rows, "num_elements": rows * len(head.columns)}

    source = mlflow.data.from_pandas(head, source=stored.path).source
    dataset = StoredSet(
        df=head,
        source=source,
        targets=target,
        name=f"{name}@{stored.run_id[:8]}",
        digest=stored.content_hash,
    )
    dataset.__dict__["schema"] = infer_signature(head).inputs
    mlflow.log_input(dataset, context=role)


def log_feast_lineage(features: dict[str, Any]) -> None:
    """The Feast features of the active run as Feast's MLflow integration (`feast.mlflow`,
    Feast 0.67) records them: run tags `feast.project`, `feast.feature_service`,
    `feast.feature_views`, `feast.feature_refs`, and the artifact `feast_features.json` (the
    refs), so Feast's `resolve_features("models:/<name>/<version>")` finds the service.

    Recorded here rather than through `feast.mlflow`: that needs a `FeatureStore` (and
    `import feast`, ~9 s) in the run process, which never calls Feast (training_frame runs
    the recorded join plan); its tags are set only by a `get_historical_features` inside an
    MLflow run; its `log_model` returns no model info and takes no `name=` (MLflow 3); its
    `register_model` takes no tags; and its `start_run` switches to an experiment named
    after the Feast project (feast/mlflow_integration/client.py)."""
    import mlflow

    refs = list(features.get("feature_refs") or [])
    views = sorted({ref.split(":")[0] for ref in refs})
    mlflow.set_tags(
        {
            "feast.project": str(features.get("project")),
            "feast.feature_service": str(features.get("feature_service") or ""),
            "feast.feature_views": ",".join(views),
            "feast.feature_refs": ",".join(refs),
        }
    )
    mlflow.log_dict(refs, "feast_features.json")


@cache
def load_pyfunc(tracking_uri: str, model_uri: str) -> PyFuncModel:
    """The logged model through `mlflow.pyfunc`, loaded once per process and URI."""
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    return mlflow.pyfunc.load_model(model_uri)
