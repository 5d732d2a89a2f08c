"""Jobs: the whole training graph as one job, the same locally and in Docker-launched runs."""

import dagster as dg

training_job = dg.define_asset_job(
    "training_job",
    selection=dg.AssetSelection.all() - dg.AssetSelection.groups("sources"),
    description="Materialize every asset: feast apply through model registration.",
    tags={"pipeline": "training"},
)
