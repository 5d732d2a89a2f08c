"""How long the champion check takes against scoring both models, at N test rows.

    .venv/bin/python benchmarks/champion_check.py --rows 1000000 --repeat 3

A champion and a challenger (ElasticNets logged and registered in a temporary MLflow store the
way the pipeline does), a challenger test set of N rows of which a fifth are rows the
champion was trained on, and both models' stored train sets (4N rows each). Measured in one
process, each repeat from cold model caches:
- `scoring`: loading both models through `mlflow.pyfunc` and their predictions on the N test
  rows (`predict_s`: the predictions alone);
- `check`: `model_not_worse_than_champion` itself: loading both models, reading the two train
  sets' row identities, excluding trained rows (`exclusion_s`), both predictions on what
  remains, the paired bootstrap (2,000 resamples, 95%; `bootstrap_s`).
Prints one JSON line per repeat and a last line with the medians and the ratios.
Not a test: the figures depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import dagster as dg
import numpy as np
import pandas as pd

from training_assets.checks.model_checks import model_not_worse_than_champion
from training_assets.domain.comparison import compare, without_trained_rows
from training_assets.domain.mlflow_logging import load_pyfunc
from training_assets.io_managers.files import StoredVersion
from training_assets.resources.thresholds import ModelThresholds
from training_assets.schema import FEATURES, TARGET
from training_assets_tests.support.mlflow_models import (
    log_elastic_net,
    mlflow_store,
    register_champion,
    split_frames,
    stored_frame,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    n = args.rows
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        store = mlflow_store(root)
        champion_train, _ = split_frames(rows=5 * n, seed=1)
        challenger_train, fresh = split_frames(rows=5 * n, seed=2)
        test = pd.concat(
            [champion_train.iloc[: n // 5], fresh.iloc[: n - n // 5]], ignore_index=True
        )
        champion_path = stored_frame(champion_train, root / "champion_train.parquet")
        challenger_path = stored_frame(challenger_train, root / "challenger_train.parquet")
        champion = log_elastic_net(store, champion_train.iloc[:50_000], alpha=0.01)
        register_champion(
            store, {k: v for k, v in champion.items() if k != "estimator"}, champion_path
        )
        challenger = log_elastic_net(store, challenger_train.iloc[:50_000], alpha=0.01)
        model = {k: v for k, v in challenger.items() if k != "estimator"}
        features = test[list(FEATURES)]
        uris = [f"models:/{store.registered_model_name}/1", model["model_uri"]]
        metrics = {"rmse": 0.0, "mae": 0.0}
        thresholds = ModelThresholds(comparison_min_rows=200)
        results = []
        for _ in range(args.repeat):
            load_pyfunc.cache_clear()
            start = time.perf_counter()
            loaded = [load_pyfunc(store.tracking_uri, uri) for uri in uris]
            loading = time.perf_counter() - start
            start = time.perf_counter()
            predictions = [np.asarray(m.predict(features)) for m in loaded]
            predict = time.perf_counter() - start
            start = time.perf_counter()
            without_trained_rows(test, champion_path, challenger_path)
            exclusion = time.perf_counter() - start
            start = time.perf_counter()
            compare(test[TARGET].to_numpy(), *predictions, resamples=2000, confidence=0.95, seed=17)
            bootstrap = time.perf_counter() - start
            load_pyfunc.cache_clear()
            start = time.perf_counter()
            result = model_not_worse_than_champion(
                dg.build_asset_check_context(),
                model_metrics=metrics,
                model=model,
                test_set=test,
                train_set=StoredVersion("train_set", "bench", str(challenger_path)),
                mlflow_tracking=store,
                thresholds=thresholds,
            )
            check = time.perf_counter() - start
            found = {k: getattr(v, "value", v) for k, v in result.metadata.items()}
            line = {
                "test_rows": n,
                "rows_compared": found["rows_compared"],
                "rows_excluded": found["rows_excluded"],
                "load_and_predict_s": round(loading + predict, 3),
                "predict_s": round(predict, 3),
                "check_s": round(check, 3),
                "exclusion_s": round(exclusion, 3),
                "bootstrap_s": round(bootstrap, 3),
            }
            results.append(line)
            print(json.dumps(line), flush=True)
        assert all(r["rows_excluded"] == n // 5 for r in results), "exclusion went wrong"
        median = {key: statistics.median(r[key] for r in results) for key in results[0]}
        print(
            json.dumps(
                {
                    **median,
                    "ratio_check_vs_load_and_predict": round(
                        median["check_s"] / median["load_and_predict_s"], 2
                    ),
                    "ratio_check_vs_predict": round(median["check_s"] / median["predict_s"], 1),
                    "target_ratio": 3,
                }
            )
        )


if __name__ == "__main__":
    main()
