"""Rebuild a registered model version from what it was trained on, and compare.

    python -m training_assets.reproduce --version N        # make reproduce VERSION=N

Loads version N's stored train and test sets (its `data.train_set` / `data.test_set` tags)
and run config, refits the ElasticNet in this fresh process, and compares with what is
registered: predictions on the test set (bit-identical, or the largest difference), RMSE and
MAE. Warns when a library that shapes the result has another version than at training time.
Registers nothing and moves no alias. The last line printed is one JSON object:
`{"version", "rmse", "mae", "registered_rmse", "registered_mae", "max_abs_prediction_diff",
"identical"}`. Exit 0 when identical, 1 when not, 2 when the version or its data is missing.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from training_assets.schema import FEATURES, TARGET


class CannotReproduce(Exception):
    """The version, or the data it was trained on, is not there; the message says which."""


def _tag(tags: dict[str, str], name: str, version: str) -> Any:
    if name not in tags:
        raise CannotReproduce(
            f"Version {version} has no {name!r} tag: it was registered before the pipeline "
            "recorded lineage, so what it was trained on is unknown."
        )
    return json.loads(tags[name])


def _stored_path(tags: dict[str, str], name: str, version: str) -> str:
    path = Path(_tag(tags, f"data.{name}", version)["path"])
    if not path.exists():  # a file, or a Parquet dataset directory (the Spark profile's)
        raise CannotReproduce(
            f"The {name} of version {version} is gone: {path} (removed by `make gc`, or the "
            "storage moved). It cannot be reproduced."
        )
    return str(path)


def reproduce(client, name: str, version: str) -> dict[str, Any]:
    import mlflow
    import pandas as pd
    from mlflow.exceptions import MlflowException
    from sklearn.metrics import mean_absolute_error, root_mean_squared_error

    from training_assets.domain.registry import library_versions
    from training_assets.domain.training import ROWS, fit_elastic_net
    from training_assets.resources.mlflow_tracking import is_not_found

    try:
        registered = client.get_model_version(name, version)
    except MlflowException as error:
        if not is_not_found(error):
            raise
        raise CannotReproduce(f"Registered model {name!r} has no version {version}.") from None
    tags = dict(registered.tags or {})
    train_path = _stored_path(tags, "train_set", version)
    test = pd.read_parquet(_stored_path(tags, "test_set", version))
    params = _tag(tags, "run_config", version)["model"]
    recorded = _tag(tags, "metrics", version)

    changed = {
        library: f"{then} -> {now}"
        for library, now in library_versions().items()
        if (then := json.loads(tags.get("libraries", "{}")).get(library)) and then != now
    }
    if changed:
        print(f"warning: library versions differ from training time: {changed}", file=sys.stderr)

    refit = fit_elastic_net(train_path, params, tags.get("fit_method", ROWS))
    predictions = refit.predict(test[list(FEATURES)])
    served = np.asarray(
        mlflow.pyfunc.load_model(f"models:/{name}/{version}").predict(test[list(FEATURES)])
    )
    actual = test[TARGET].to_numpy()
    return {
        "version": str(version),
        "rmse": float(root_mean_squared_error(actual, predictions)),
        "mae": float(mean_absolute_error(actual, predictions)),
        "registered_rmse": recorded["rmse"],
        "registered_mae": recorded["mae"],
        "max_abs_prediction_diff": float(np.max(np.abs(predictions - served), initial=0.0)),
        "identical": bool(np.array_equal(predictions, served)),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--version", required=True, help="registered model version")
    args = parser.parse_args(argv)
    from training_assets.resources.build import build_resources
    from training_assets.settings import SettingError

    try:
        tracking = build_resources()["mlflow_tracking"]
    except SettingError as error:
        print(error, file=sys.stderr)
        return 2
    tracking.activate()
    name = tracking.registered_model_name
    try:
        result = reproduce(tracking.client(), name, args.version)
    except CannotReproduce as error:
        print(f"Cannot reproduce {name} version {args.version}: {error}", file=sys.stderr)
        return 2
    identical = (
        result["identical"]
        and result["rmse"] == result["registered_rmse"]
        and result["mae"] == result["registered_mae"]
    )
    result["identical"] = identical
    print(
        f"{name} version {args.version}: refitted on its stored train set "
        f"({'identical to' if identical else 'DIFFERENT from'} the registered model)"
    )
    print(json.dumps(result))
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
