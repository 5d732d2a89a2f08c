"""Feature drift against the last good training frame: population stability index (PSI).

The baseline is a small profile of a training frame (per feature: quantile bin edges and the
share of rows in each bin), the value of the `drift_baseline` asset. The current frame is
binned on the baseline's edges and PSI = sum((current - baseline) * ln(current / baseline))
over the bins.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

# Empty bins get this share so the logarithm stays finite (a common PSI convention).
_EPSILON = 1e-4


def _values(frame: pd.DataFrame, feature: str) -> np.ndarray:
    values = pd.to_numeric(frame[feature], errors="coerce").to_numpy(dtype="float64")
    return values[~np.isnan(values)]


def _shares(values: np.ndarray, edges: Sequence[float]) -> np.ndarray:
    # Bins (-inf, e1], (e1, e2], ..., (ek, inf).
    counts = np.bincount(np.searchsorted(np.asarray(edges), values), minlength=len(edges) + 1)
    return counts / max(len(values), 1)


def profile(frame: pd.DataFrame, features: Sequence[str], bins: int) -> dict[str, Any]:
    """Quantile bin edges and shares per feature, for use as the next baseline."""
    result: dict[str, Any] = {}
    for feature in features:
        values = _values(frame, feature)
        if len(values) == 0:
            result[feature] = {"edges": [], "shares": [1.0], "mean": None, "rows": 0}
            continue
        edges = np.unique(np.quantile(values, np.linspace(0, 1, bins + 1)[1:-1]))
        result[feature] = {
            "edges": edges.tolist(),
            "shares": _shares(values, edges).tolist(),
            "mean": float(values.mean()),
            "rows": len(values),
        }
    return result


def psi(baseline_shares: Sequence[float], current_shares: Sequence[float]) -> float:
    expected = np.clip(np.asarray(baseline_shares, dtype="float64"), _EPSILON, None)
    actual = np.clip(np.asarray(current_shares, dtype="float64"), _EPSILON, None)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def compare(
    baseline: Mapping[str, Any], frame: pd.DataFrame, max_psi: float
) -> dict[str, dict[str, Any]]:
    """Per feature of the baseline: PSI of the frame against it, and whether it drifted."""
    figures = {}
    for feature, reference in baseline["features"].items():
        if feature not in frame.columns:
            figures[feature] = {"psi": None, "drifted": True, "note": "column missing"}
            continue
        values = _values(frame, feature)
        value = psi(reference["shares"], _shares(values, reference["edges"]))
        figures[feature] = {
            "psi": round(value, 6),
            "max_psi": max_psi,
            "drifted": value > max_psi,
            "baseline_mean": reference.get("mean"),
            "current_mean": float(values.mean()) if len(values) else None,
        }
    return figures


def baseline(frame: pd.DataFrame, features: Sequence[str], bins: int) -> dict[str, Any]:
    """The profile of a frame as a drift baseline: the `drift_baseline` asset's value."""
    return {"rows": len(frame), "bins": bins, "features": profile(frame, features, bins)}
