"""Process-wide state a test may change and must give back (conftest's autouse fixture).

- `os.environ`: the product sets variables with `os.environ.setdefault` (MLflow credentials
  taken out of a tracking URI, MLflow's HTTP retry settings), and MLflow's
  `set_tracking_uri`/`set_registry_uri` export MLFLOW_TRACKING_URI/MLFLOW_REGISTRY_URI.
  `monkeypatch.delenv(..., raising=False)` on a variable that is not set records nothing to
  undo, so without a snapshot these would stay for the rest of the session.
- MLflow's module globals behind `set_tracking_uri`/`set_registry_uri` (MLflow 3.17:
  `mlflow.tracking._tracking_service.utils._tracking_uri` and
  `mlflow.tracking._model_registry.utils._registry_uri`).
- The product's per-process caches that hold an MLflow store: the cached `MlflowClient` per
  tracking URI and the loaded pyfunc models. (The cached Great Expectations context is left
  alone: it is in memory, and each validation removes the data source it added.)

MLflow and the product modules are only touched when a test imported them, so tests that
never need MLflow do not pay for importing it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

_TRACKING = "mlflow.tracking._tracking_service.utils"
_REGISTRY = "mlflow.tracking._model_registry.utils"
_PRODUCT_CACHES = (
    ("training_assets.resources.mlflow_tracking", "_client"),
    ("training_assets.domain.mlflow_logging", "load_pyfunc"),
)


def mlflow_uris() -> tuple[str | None, str | None]:
    """MLflow's process-wide tracking and registry URIs (None: never set, or not imported)."""
    tracking, registry = sys.modules.get(_TRACKING), sys.modules.get(_REGISTRY)
    return (
        tracking._tracking_uri if tracking else None,
        registry._registry_uri if registry else None,
    )


def _restore_mlflow_uris(tracking_uri: str | None, registry_uri: str | None) -> None:
    tracking, registry = sys.modules.get(_TRACKING), sys.modules.get(_REGISTRY)
    if tracking is not None and tracking._tracking_uri != tracking_uri:
        # Through MLflow's setter: it also resets the tracer provider that holds the URI.
        tracking.set_tracking_uri(tracking_uri)
    if registry is not None:
        registry._registry_uri = registry_uri


def _restore_environment(snapshot: dict[str, str]) -> None:
    for name in set(os.environ) - set(snapshot):
        del os.environ[name]
    for name, value in snapshot.items():
        if os.environ.get(name) != value:
            os.environ[name] = value


def clear_product_caches() -> None:
    for module_name, function in _PRODUCT_CACHES:
        module = sys.modules.get(module_name)
        if module is not None:
            getattr(module, function).cache_clear()


@contextmanager
def isolated_process_state() -> Iterator[None]:
    """Give back os.environ exactly, MLflow's URIs, and empty the product's MLflow caches."""
    environment = dict(os.environ)
    uris = mlflow_uris()
    try:
        yield
    finally:
        _restore_mlflow_uris(*uris)
        _restore_environment(environment)
        clear_product_caches()
