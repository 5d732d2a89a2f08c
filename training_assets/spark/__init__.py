"""Spark engine: the point-in-time join and the elastic net on a Spark cluster.

Needs the `spark` extra (`uv sync --extra spark`) and Java 17+. Each module does one job:

- `cluster`: start and stop a local standalone cluster (master + workers as separate JVMs)
  for development and tests, and prove from its REST APIs which workers ran tasks;
- `session`: a SparkSession with the settings the other modules rely on (UTC, modest memory);
- `asof_join`: the exact point-in-time join (same rows as the DuckDB join), written as Parquet
  by the executors;
- `split`: a deterministic train/test split by a seeded hash of each row's identity;
- `elastic_net`: MLlib `LinearRegression` fitted so its coefficients equal scikit-learn's
  `ElasticNet`, handed back as numpy arrays / a scikit-learn object for serving.

Nothing here is imported by the asset graph yet; `import pyspark` happens inside the modules
that need it, so importing this package costs nothing.
"""
