"""Evaluation plots of a regressor on the test set, as PNG bytes."""

from __future__ import annotations

import io

import numpy as np

MAX_SCATTER_POINTS = 20_000


def _png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return buffer.getvalue()


def evaluation_plots(actual: np.ndarray, predicted: np.ndarray) -> dict[str, bytes]:
    """`predicted_vs_actual.png` and `residuals.png`."""
    import matplotlib

    matplotlib.use("Agg")  # no display; must precede pyplot
    from matplotlib import pyplot as plt

    actual, predicted = np.asarray(actual), np.asarray(predicted)
    rng = np.random.default_rng(0)
    # Beyond a few thousand the points only overplot (and drawing 200k takes a second): a
    # seeded sample of them. The histogram below uses every row.
    shown = np.arange(len(actual))
    if len(shown) > MAX_SCATTER_POINTS:
        shown = np.sort(rng.choice(shown, MAX_SCATTER_POINTS, replace=False))
    # The label is 0/1: spread the points sideways so overlapping ones stay visible.
    jitter = rng.uniform(-0.08, 0.08, len(shown))
    figure, axis = plt.subplots(figsize=(5, 4))
    axis.scatter(actual[shown] + jitter, predicted[shown], s=8, alpha=0.4)
    axis.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="perfect")
    axis.set(xlabel="actual trip_completed (jittered)", ylabel="predicted", xticks=[0, 1])
    sampled = f", {len(shown):,} of {len(actual):,} rows" if len(shown) < len(actual) else ""
    axis.set_title(f"Predicted vs actual (test set{sampled})")
    axis.legend(loc="upper left")
    plots = {"predicted_vs_actual.png": _png(figure)}
    plt.close(figure)

    figure, axis = plt.subplots(figsize=(5, 4))
    axis.hist(actual - predicted, bins=40)
    axis.set(xlabel="residual (actual - predicted)", ylabel="rows")
    axis.set_title("Residuals (test set)")
    plots["residuals.png"] = _png(figure)
    plt.close(figure)
    return plots
