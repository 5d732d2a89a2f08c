# Two commands on a fresh clone: `make run` and `make test`. See README.md.
SHELL := /bin/bash
VENV := .venv
PYTHON := $(VENV)/bin/python

SAMPLE_DATA := data/driver_stats.parquet data/driver_orders.csv

.PHONY: run test dev lint data mlflow-ui champion rollback reproduce gc clean \
	docker-engine base-image image stack-up stack-launch stack-status stack-down test-docker

# The environment, exactly as the lock file says (uv is installed with pip if missing), with
# the `spark` extra (pyspark, ~400 MB: the Spark profile and its cluster tests; Java 17+ runs
# it). Bytecode is compiled once here: where PYTHONDONTWRITEBYTECODE is set, Python would
# otherwise recompile every import of every run (the code location loads in ~1.7 s instead
# of ~4 s; a whole run saves ~10 s).
$(VENV)/.synced: pyproject.toml uv.lock
	@command -v uv >/dev/null || python3 -m pip install --quiet uv
	uv sync --frozen --compile-bytecode --extra spark
	@touch $@

$(SAMPLE_DATA): | $(VENV)/.synced
	$(PYTHON) -m training_assets.sample_data --out-dir data --if-missing

data: $(SAMPLE_DATA)

## Set up, then materialize every asset on local defaults and print a summary
## (`dagster asset materialize --select '*'` with the project's DAGSTER_HOME; its whole log
## goes to var/logs/).
run: $(VENV)/.synced $(SAMPLE_DATA)
	@$(PYTHON) -m training_assets.run

## The full test suite (unit, point-in-time, end-to-end, CLI and Spark cluster tests).
test: $(VENV)/.synced
	$(VENV)/bin/pytest $(PYTEST_ARGS)

## The Dagster UI (and daemon) on http://127.0.0.1:$DAGSTER_UI_PORT (3000)
dev: $(VENV)/.synced $(SAMPLE_DATA)
	@$(PYTHON) -m training_assets.run dev

## The MLflow UI over the local tracking store on http://127.0.0.1:$MLFLOW_UI_PORT (5000)
mlflow-ui: $(VENV)/.synced
	@$(PYTHON) -m training_assets.run mlflow-ui

## Which registered version is @champion and @previous-champion; swap them back.
champion: $(VENV)/.synced
	$(PYTHON) -m training_assets.champion show

rollback: $(VENV)/.synced
	$(PYTHON) -m training_assets.champion rollback

## Refit registered version VERSION from its stored train set and compare with the registry.
reproduce: $(VENV)/.synced
	@test -n "$(VERSION)" || { echo "usage: make reproduce VERSION=<registered version>"; exit 2; }
	$(PYTHON) -m training_assets.reproduce --version $(VERSION)

## Remove stored asset versions beyond TRAINING_KEEP_VERSIONS (never one a registered
## version was trained or tested on). DRY_RUN=1 only lists them.
gc: $(VENV)/.synced
	$(PYTHON) -m training_assets.gc $(if $(filter 1,$(DRY_RUN)),--dry-run)

lint: $(VENV)/.synced
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

## Production (Docker), see deploy/README.md. A Docker engine (installs and starts dockerd
## with apt if none answers).
docker-engine:
	deploy/scripts/docker-engine.sh

## The python:3.11 base image; built locally with mmdebstrap when Docker Hub is unreachable.
base-image: docker-engine
	deploy/scripts/base-image.sh

## The pipeline image (TRAINING_IMAGE, default training-assets:dev).
image: docker-engine
	deploy/scripts/build-image.sh

## Postgres, MLflow server, code server, webserver (127.0.0.1:3000) and daemon.
stack-up: image
	deploy/scripts/stack.sh up

## Launch training_job on the stack (queued; the daemon runs it in its own container):
## prints the run id and its UI link. WAIT=1 waits for the run and reports how it ended.
stack-launch:
	WAIT=$(WAIT) deploy/scripts/stack.sh launch

stack-status:
	deploy/scripts/stack.sh status

## Stop the stack and remove run containers; the data volumes stay (VOLUMES=1 drops them).
stack-down:
	deploy/scripts/stack.sh down $(if $(filter 1,$(VOLUMES)),--volumes)

## Only the Docker tests (build the image, start the stack, run the job; about 6 minutes).
test-docker: $(VENV)/.synced
	$(VENV)/bin/pytest -m docker -v

## Remove every local result (assets, MLflow store, Dagster runs, Feast registry).
clean:
	rm -rf var feature_repo/data
