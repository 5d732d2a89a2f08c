"""The feature service `driver_training` (feature_repo/driver_features.py): what `feast apply`
records of it for `training_frame`, and retrieval through it with the ASOF store.

`store.get_historical_features(features=store.get_feature_service(name))` must give the same
frame as the service's feature refs and as Feast's stock `duckdb` store, and the join plan
`describe()` records for the service (what `training_frame` runs without Feast) must give it
too, for the project's service and for one with an alias, a subset of features in another
order and full feature names.
"""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pytest

REFS = ["driver_stats:conv_rate", "driver_stats:acc_rate", "driver_stats:avg_daily_trips"]


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    keys = list(frame.columns)
    return frame.sort_values(keys, kind="stable").reset_index(drop=True)


def _plan_frame(plan: list[dict], entity_df: pd.DataFrame) -> pd.DataFrame:
    """What training_frame runs: the recorded plan, no Feast."""
    from training_assets.feast_offline_store.asof_join import FeatureViewSpec, PointInTimeJoin

    specs = [FeatureViewSpec.from_dict(spec) for spec in plan]
    entity = pa.Table.from_pandas(entity_df, preserve_index=False)
    return PointInTimeJoin(entity, "event_timestamp", specs).to_arrow().to_pandas()


def test_describe_records_the_feature_service(applied_repo):
    description = applied_repo.description
    assert description["feature_services"]["driver_training"] == {
        "feature_refs": REFS,
        "projections": [
            {
                "feature_view": "driver_stats",
                "name_alias": None,
                "join_key_map": {},
                "features": ["conv_rate", "acc_rate", "avg_daily_trips"],
            }
        ],
        "tags": {"team": "ml-platform"},
    }
    offline_store = description["offline_store"]
    # The service selects every feature of the view: its plan is the view's.
    assert offline_store["feature_services"]["driver_training"] == [
        offline_store["feature_views"]["driver_stats"]
    ]


def test_service_frame_same_as_refs_and_stock(applied_repo, entity_df):
    from training_assets.feast_offline_store.asof_store import AsOfRetrievalJob

    ours, stock = applied_repo.stores["ours"], applied_repo.stores["stock"]
    job = ours.get_historical_features(
        entity_df=entity_df, features=ours.get_feature_service("driver_training")
    )
    assert isinstance(job, AsOfRetrievalJob)
    by_service = job.to_df()
    assert list(by_service.columns) == [
        *entity_df.columns,
        "conv_rate",
        "acc_rate",
        "avg_daily_trips",
    ]
    by_refs = ours.get_historical_features(entity_df=entity_df, features=REFS).to_df()
    pd.testing.assert_frame_equal(by_service, by_refs, check_exact=True)
    stock_frame = stock.get_historical_features(
        entity_df=entity_df, features=stock.get_feature_service("driver_training")
    ).to_df()
    # The stock store returns microsecond timestamps and rows in no particular order.
    pd.testing.assert_frame_equal(
        _sorted(by_service), _sorted(stock_frame), check_exact=True, check_dtype=False
    )
    plan = applied_repo.description["offline_store"]["feature_services"]["driver_training"]
    pd.testing.assert_frame_equal(_plan_frame(plan, entity_df), by_service, check_exact=True)


@pytest.mark.parametrize("full_feature_names", [False, True])
def test_service_with_alias_and_subset(applied_repo, entity_df, full_feature_names):
    from feast import FeatureService

    from training_assets.feast_offline_store.asof_store import asof_plan

    ours, stock = applied_repo.stores["ours"], applied_repo.stores["stock"]
    view = ours.get_feature_view("driver_stats")
    service = FeatureService(
        name="rates_only",
        features=[view.with_name("stats")[["avg_daily_trips", "conv_rate"]]],
    )
    ours.apply([service])
    stock.refresh_registry()
    frames = {
        kind: store.get_historical_features(
            entity_df=entity_df,
            features=store.get_feature_service("rates_only"),
            full_feature_names=full_feature_names,
        ).to_df()
        for kind, store in applied_repo.stores.items()
    }
    names = ["stats__avg_daily_trips", "stats__conv_rate"] if full_feature_names else None
    names = names or ["avg_daily_trips", "conv_rate"]
    assert list(frames["ours"].columns) == [*entity_df.columns, *names]
    pd.testing.assert_frame_equal(
        _sorted(frames["ours"]), _sorted(frames["stock"]), check_exact=True, check_dtype=False
    )
    if not full_feature_names:
        # The plan describe() records (full_feature_names=False, as training_frame joins).
        plan = asof_plan(ours.config, ours.list_feature_views(), ours.list_feature_services())
        rates = plan["feature_services"]["rates_only"]
        assert [tuple(pair) for pair in rates[0]["features"]] == [
            ("avg_daily_trips", "avg_daily_trips"),
            ("conv_rate", "conv_rate"),
        ]
        pd.testing.assert_frame_equal(
            _plan_frame(rates, entity_df), frames["ours"], check_exact=True
        )
