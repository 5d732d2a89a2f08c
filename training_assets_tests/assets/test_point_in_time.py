"""The training frame's point-in-time join against an independent, brute-force as-of join.

The data is adversarial on purpose: equal feature timestamps with different `created`,
duplicate label rows, labels before a driver's first feature row, rows older than the ttl,
drivers with no feature row at or before any of their labels, and labels exactly at a feature
timestamp. A driver the feature source never mentions at all is refused by training_frame's
input checks (domain/test_input_checks.py); the join itself keeps such rows with null features
(feast_offline_store/test_asof_differential.py, against Feast's own store).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from training_assets.assets.features import feast_registry, training_frame
from training_assets.definitions import build_resources
from training_assets.sample_data import write_labels_csv
from training_assets.schema import FEATURES, TRAINING_FRAME_COLUMNS, TRAINING_FRAME_SORT_KEYS
from training_assets_tests.support.project import latest_value

TTL = timedelta(days=1)
T0 = datetime(2026, 3, 1, tzinfo=UTC)


def at(hours: float) -> pd.Timestamp:
    return pd.Timestamp(T0 + timedelta(hours=hours))


def write_features(path, rows: list[tuple]) -> None:
    frame = pd.DataFrame(rows, columns=["driver_id", "datetime", "created", *FEATURES])
    for column in ("datetime", "created"):
        frame[column] = pd.to_datetime(frame[column], utc=True).astype("datetime64[us, UTC]")
    frame = frame.astype(
        {
            "driver_id": "int64",
            "conv_rate": "float32",
            "acc_rate": "float32",
            "avg_daily_trips": "int32",
        }
    )
    frame.to_parquet(path, index=False)


def write_labels(path, rows: list[tuple]) -> None:
    import pyarrow as pa

    frame = pd.DataFrame(rows, columns=["event_timestamp", "driver_id", "trip_completed"])
    frame["event_timestamp"] = pd.to_datetime(frame["event_timestamp"], utc=True)
    write_labels_csv(pa.Table.from_pandas(frame, preserve_index=False), path)


def reference_join(labels_path, features_path, ttl: timedelta) -> pd.DataFrame:
    """For each label row: that driver's latest feature row at or before the event and no
    older than the ttl, ties on the feature timestamp going to the latest `created`."""
    labels = pd.read_csv(labels_path, sep="\t")
    labels["event_timestamp"] = pd.to_datetime(labels["event_timestamp"], utc=True)
    features = pd.read_parquet(features_path)
    rows = []
    for label in labels.itertuples(index=False):
        candidates = features[
            (features.driver_id == label.driver_id)
            & (features.datetime <= label.event_timestamp)
            & (features.datetime >= label.event_timestamp - ttl)
        ]
        row = {
            "event_timestamp": label.event_timestamp,
            "driver_id": label.driver_id,
            "trip_completed": label.trip_completed,
        }
        if len(candidates):
            best = candidates.sort_values(["datetime", "created"]).iloc[-1]
            row |= {name: float(best[name]) for name in FEATURES}
            row["feature_timestamp"] = best.datetime
        else:
            row |= dict.fromkeys(FEATURES, np.nan)
            row["feature_timestamp"] = pd.NaT
        rows.append(row)
    frame = pd.DataFrame(rows, columns=list(TRAINING_FRAME_COLUMNS))
    return frame.sort_values(list(TRAINING_FRAME_SORT_KEYS), kind="stable").reset_index(drop=True)


@pytest.fixture
def short_ttl_project(project):
    """The project with the feature view's ttl cut to one day, and the registry applied."""
    definitions = project.feature_repo / "driver_features.py"
    source = definitions.read_text()
    assert "ttl=timedelta(days=36500)" in source
    definitions.write_text(source.replace("ttl=timedelta(days=36500)", "ttl=timedelta(days=1)"))
    resources = build_resources()
    assert dg.materialize([feast_registry], resources=resources).success
    return project, resources


def build_frame(resources) -> pd.DataFrame:
    result = dg.materialize(
        [feast_registry, training_frame], selection=["training_frame"], resources=resources
    )
    assert result.success
    return latest_value(resources, "training_frame")


def assert_same_frame(ours: pd.DataFrame, expected: pd.DataFrame) -> None:
    assert list(ours.columns) == list(TRAINING_FRAME_COLUMNS)
    same_types = {name: "float64" for name in FEATURES} | {
        "feature_timestamp": "datetime64[us, UTC]"
    }
    pd.testing.assert_frame_equal(
        ours.astype(same_types),
        expected.astype(same_types),
        check_dtype=False,
        rtol=0,
        atol=1e-6,
    )


def test_handpicked_edge_cases(short_ttl_project):
    project, resources = short_ttl_project
    write_features(
        project.features_path,
        [
            # driver 1: two rows at 10:00; the later `created` (conv 0.2) must win.
            (1, at(10), at(10.5), 0.2, 0.5, 20),
            (1, at(10), at(10.1), 0.1, 0.5, 10),
            (1, at(12), at(12.1), 0.3, 0.5, 30),
            # driver 2: a single row at 11:00.
            (2, at(11), at(11.1), 0.4, 0.5, 40),
            # driver 3: one row 30 hours before its labels (beyond the 1-day ttl) and one
            # exactly at the ttl boundary of the second label.
            (3, at(-30), at(-29), 0.5, 0.5, 50),
            (3, at(-23), at(-22), 0.6, 0.5, 60),
            # driver 4: a row only after its label.
            (4, at(500), at(500), 0.7, 0.5, 70),
        ],
    )
    write_labels(
        project.labels_path,
        [
            (at(9), 1, 0),  # before driver 1's first row: kept, null features
            (at(10), 1, 1),  # exactly at a feature timestamp: tie broken by created -> 0.2
            (at(11), 1, 1),
            (at(11), 1, 1),  # duplicate label row: kept twice
            (at(11), 1, 0),  # same key, other label
            (at(13), 1, 1),  # -> 0.3
            (at(10.99), 2, 0),  # before driver 2's row
            (at(11), 2, 1),  # -> 0.4
            (at(1), 3, 1),  # 0.6 is 24 h old: exactly the ttl, still valid
            (at(2), 3, 0),  # 0.6 now 25 h old, 0.5 older still: expired -> null
            (at(5), 4, 1),  # a driver whose only feature row comes later: null
        ],
    )
    ours = build_frame(resources)
    expected = reference_join(project.labels_path, project.features_path, TTL)
    assert_same_frame(ours, expected)

    by_row = ours.assign(hours=(ours.event_timestamp - pd.Timestamp(T0)).dt.total_seconds() / 3600)
    conv = {
        (r.driver_id, round(r.hours, 2), r.trip_completed): r.conv_rate for r in by_row.itertuples()
    }
    assert len(ours) == 11
    assert np.isnan(conv[(1, 9.0, 0)])
    assert conv[(1, 10.0, 1)] == pytest.approx(0.2)
    assert conv[(1, 13.0, 1)] == pytest.approx(0.3)
    assert np.isnan(conv[(2, 10.99, 0)])
    assert conv[(3, 1.0, 1)] == pytest.approx(0.6)
    assert np.isnan(conv[(3, 2.0, 0)])
    assert np.isnan(conv[(4, 5.0, 1)])
    assert (by_row.driver_id.eq(1) & by_row.hours.eq(11) & by_row.trip_completed.eq(1)).sum() == 2


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_randomized_against_reference(short_ttl_project, seed):
    project, resources = short_ttl_project
    rng = np.random.default_rng(seed)
    n_features, n_labels, drivers = 300, 200, 12
    # Whole hours over four days: many equal timestamps per driver; distinct `created`.
    hours = rng.integers(0, 96, n_features)
    created_minutes = rng.permutation(n_features)
    features = [
        (
            int(rng.integers(1, drivers)),
            at(int(h)),
            at(int(h) + (int(m) + 1) / 1000),
            float(rng.random()),
            float(rng.random()),
            int(rng.integers(0, 500)),
        )
        for h, m in zip(hours, created_minutes, strict=True)
    ]
    label_hours = rng.integers(-5, 110, n_labels)
    labels = [
        (
            at(int(h) + float(rng.choice([0, 0.5]))),
            int(rng.integers(1, drivers + 2)),
            int(rng.integers(0, 2)),
        )
        for h in label_hours
    ]
    labels += labels[:20]  # exact duplicates
    # Drivers drivers..drivers+1 have no row at or before any label: one each after them all.
    features += [(d, at(1000), at(1000), 0.5, 0.5, 1) for d in range(1, drivers + 2)]
    write_features(project.features_path, features)
    write_labels(project.labels_path, labels)

    ours = build_frame(resources)
    expected = reference_join(project.labels_path, project.features_path, TTL)
    assert len(ours) == len(labels)
    assert ours[list(FEATURES)].isna().any(axis=1).sum() > 0, "the case should include gaps"
    assert_same_frame(ours, expected)


def test_frame_comes_from_the_feature_service(project):
    """training_frame joins the features of the `driver_training` service that `feast apply`
    recorded, and refuses a service that does not select the features the model needs."""
    resources = build_resources()
    result = dg.materialize([feast_registry, training_frame], resources=resources)
    assert result.success
    registry = result.output_for_node("feast_registry")
    assert registry["feature_services"]["driver_training"]["projections"][0]["features"] == list(
        FEATURES
    )
    materialization = result.asset_materializations_for_node("training_frame")[0]
    assert materialization.metadata["feature_service"].value == "driver_training"
    frame = latest_value(resources, "training_frame")

    # With Feast's stock duckdb store, training_frame asks Feast for the service: same frame.
    config = project.feature_repo / "feature_store.yaml"
    asof = config.read_text()
    stock = re.sub(r"\n  type: training_assets\S+\n", "\n  type: duckdb\n", asof)
    stock = re.sub(r"\n  memory_limit: \S+\n", "\n", stock)  # not a setting of `duckdb`
    assert "\n  type: duckdb\n" in stock
    config.write_text(stock)
    result = dg.materialize([feast_registry, training_frame], resources=resources)
    assert result.output_for_node("feast_registry")["offline_store"] == {"type": "duckdb"}
    materialization = result.asset_materializations_for_node("training_frame")[0]
    assert materialization.metadata["feature_service"].value == "driver_training"
    pd.testing.assert_frame_equal(
        latest_value(resources, "training_frame"), frame, check_exact=True, check_dtype=False
    )
    config.write_text(asof)

    definitions = project.feature_repo / "driver_features.py"
    source = definitions.read_text()
    selection = 'driver_stats[["conv_rate", "acc_rate", "avg_daily_trips"]]'
    assert selection in source
    definitions.write_text(source.replace(selection, 'driver_stats[["conv_rate", "acc_rate"]]'))
    with pytest.raises(
        ValueError,
        match=r"Feature service 'driver_training' .* selects \['conv_rate', 'acc_rate'\]",
    ):
        dg.materialize([feast_registry, training_frame], resources=resources)
