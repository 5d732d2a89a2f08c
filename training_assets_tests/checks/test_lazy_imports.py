"""Loading the code location must not import Great Expectations (about 10 s), DuckDB, Feast
or MLflow (seconds each): the steps import them when they run."""

import subprocess
import sys

from training_assets.project import PROJECT_DIR

PROBE = (
    "import sys, training_assets.definitions as d; "
    "assert d.defs is not None; "
    "print(sorted(m for m in ('great_expectations', 'duckdb', 'feast', 'mlflow') "
    "if m in sys.modules))"
)


def test_code_location_import_leaves_gx_duckdb_feast_and_mlflow_out():
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert result.stdout.strip().splitlines()[-1] == "[]"
