#!/bin/sh
# Runs once, when the Postgres data volume is initialised (official image and the local one):
# a separate database for the MLflow tracking server, since MLflow's and Dagster's schemas
# both have `runs` and `alembic_version` tables, and one for MLflow's users and permissions
# (its basic-auth app; deploy/mlflow/auth_bootstrap.py creates it on an older volume).
set -eu
for db in "${MLFLOW_DB:-mlflow}" "${MLFLOW_AUTH_DB:-mlflow_auth}"; do
  psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -c "CREATE DATABASE \"$db\""
done
