import numpy as np
import pandas as pd

from training_assets.domain.validation import drift

FEATURES = ("conv_rate", "avg_daily_trips")


def frame(seed: int, shift: float = 0.0, rows: int = 2000) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "conv_rate": np.clip(rng.beta(2, 5, rows) + shift, 0, 1),
            "avg_daily_trips": rng.integers(0, 50, rows),
        }
    )


def test_same_distribution_is_stable_and_a_shift_is_drift():
    baseline = drift.baseline(frame(1), FEATURES, bins=10)
    assert baseline["rows"] == 2000 and baseline["bins"] == 10

    same = drift.compare(baseline, frame(2), max_psi=0.2)
    assert all(not item["drifted"] and item["psi"] < 0.05 for item in same.values())

    shifted = drift.compare(baseline, frame(3, shift=0.3), max_psi=0.2)
    assert shifted["conv_rate"]["drifted"] and shifted["conv_rate"]["psi"] > 1
    assert not shifted["avg_daily_trips"]["drifted"]
    assert shifted["conv_rate"]["current_mean"] > shifted["conv_rate"]["baseline_mean"] + 0.25


def test_psi_of_identical_shares_is_zero_and_empty_bins_stay_finite():
    assert drift.psi([0.5, 0.5], [0.5, 0.5]) == 0
    assert np.isfinite(drift.psi([1.0, 0.0], [0.0, 1.0]))
