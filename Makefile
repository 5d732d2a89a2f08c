# Two commands on a fresh clone: `make run` and `make test`. See README.md.
SHELL := /bin/bash
VENV := .venv
PYTHON := $(VENV)/bin/python
export DAGSTER_HOME := $(CURDIR)/var/dagster_home

SAMPLE_DATA := data/driver_stats.parquet data/driver_orders.csv

.PHONY: run test dev lint data mlflow-ui champion rollback clean

# The environment, exactly as the lock file says (uv is installed with pip if missing).
$(VENV)/.synced: pyproject.toml uv.lock
	@command -v uv >/dev/null || python3 -m pip install --quiet uv
	uv sync --frozen
	@touch $@

$(DAGSTER_HOME)/dagster.yaml: dagster.yaml
	@mkdir -p $(DAGSTER_HOME)
	cp dagster.yaml $@

$(SAMPLE_DATA): | $(VENV)/.synced
	$(PYTHON) -m training_assets.sample_data --out-dir data --if-missing

data: $(SAMPLE_DATA)

## Set up, then materialize every asset on local defaults.
run: $(VENV)/.synced $(DAGSTER_HOME)/dagster.yaml $(SAMPLE_DATA)
	$(VENV)/bin/dagster asset materialize --select '*' -m training_assets.definitions

## The full test suite (unit, point-in-time, end-to-end and CLI tests).
test: $(VENV)/.synced
	$(VENV)/bin/pytest $(PYTEST_ARGS)

## The Dagster UI (and daemon) on http://127.0.0.1:3000
dev: $(VENV)/.synced $(DAGSTER_HOME)/dagster.yaml $(SAMPLE_DATA)
	$(VENV)/bin/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

## The MLflow UI over the local tracking store on http://127.0.0.1:5000
mlflow-ui: $(VENV)/.synced
	$(VENV)/bin/mlflow ui --backend-store-uri sqlite:///var/mlflow/mlflow.db -h 127.0.0.1 -p 5000

## Which registered version is @champion and @previous-champion; swap them back.
champion: $(VENV)/.synced
	$(PYTHON) -m training_assets.champion show

rollback: $(VENV)/.synced
	$(PYTHON) -m training_assets.champion rollback

lint: $(VENV)/.synced
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

## Remove every local result (assets, MLflow store, Dagster runs, Feast registry).
clean:
	rm -rf var feature_repo/data
