#!/bin/sh
# Runs once, when the Postgres data volume is initialised (official image and the local one):
# a separate database for the MLflow tracking server, since MLflow's and Dagster's schemas
# both have `runs` and `alembic_version` tables.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -c "CREATE DATABASE \"${MLFLOW_DB:-mlflow}\""
