"""Point-in-time retrieval for Feast as DuckDB ASOF JOINs.

`asof_join` is the engine (DuckDB and pyarrow only); `asof_store` wraps it as a Feast custom
offline store for `feature_store.yaml`. Importing this package imports neither.
"""
