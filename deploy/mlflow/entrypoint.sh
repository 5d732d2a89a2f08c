#!/bin/sh
# The MLflow tracking server of the stack, behind MLflow's basic-auth app
# (`mlflow server --app-name basic-auth`, the `mlflow[auth]` extra). Arguments: the server's
# options (docker-compose.yml). Every credential comes from the container's environment
# (deploy/.env through docker-compose.yml): none is in the image, the compose file, this
# script's arguments or a process's command line.
#
#   MLFLOW_AUTH_ADMIN_USERNAME / MLFLOW_AUTH_ADMIN_PASSWORD   the admin (MLflow reads both
#       itself: it creates the admin on the first start of an empty users database)
#   MLFLOW_PIPELINE_USERNAME / MLFLOW_PIPELINE_PASSWORD       the user the pipeline runs as
#   MLFLOW_AUTH_DATABASE_URI    the users/permissions database (Postgres, no password in it:
#                               libpq reads PGPASSWORD)
#
# 1. writes MLflow's auth config file (no secret in it) and points MLFLOW_AUTH_CONFIG_PATH at it;
# 2. auth_bootstrap.py prepare: creates the users database if missing, and makes the admin's
#    password the one in the environment (rotation: edit deploy/.env, restart);
# 3. starts the server; auth_bootstrap.py users: creates the pipeline user through the REST
#    API as the admin (or resets its password to the environment's), idempotently;
# 4. only then marks the container ready (the compose healthcheck looks for the marker).
set -eu

for name in MLFLOW_AUTH_ADMIN_USERNAME MLFLOW_AUTH_ADMIN_PASSWORD MLFLOW_PIPELINE_USERNAME \
  MLFLOW_PIPELINE_PASSWORD MLFLOW_AUTH_DATABASE_URI; do
  eval "value=\${$name:-}"
  if [ -z "$value" ]; then
    echo "mlflow-entrypoint: $name is required (deploy/.env, see deploy/.env.example)" >&2
    exit 1
  fi
done
unset value

auth_dir=/tmp/mlflow-auth
umask 077
mkdir -p "$auth_dir"
rm -f "$auth_dir/ready"

# CSRF protection of the sign-up form needs one key shared by the server's workers; a new random
# one per container start is enough (it protects a form, it is not a credential).
if [ -z "${MLFLOW_FLASK_SERVER_SECRET_KEY:-}" ]; then
  MLFLOW_FLASK_SERVER_SECRET_KEY="$(python -c 'import secrets; print(secrets.token_hex(32))')"
  export MLFLOW_FLASK_SERVER_SECRET_KEY
fi

# default_permission applies wherever a user has no grant of their own. READ is the least that
# works for the pipeline (checked with NO_PERMISSIONS, which failed its first run):
# - creating an experiment or a registered model needs no default permission, and MLflow gives
#   the creator MANAGE on it, so the pipeline user manages what it creates;
# - but before the first registration the pipeline asks for the champion alias of a model that
#   does not exist yet. MLflow answers 403 to that (it does not reveal which names exist), and
#   the pipeline tells "no model yet" from "not allowed" by getting the model itself, which
#   answers 404 only when the user may read it, i.e. with READ as default; with NO_PERMISSIONS
#   it is 403 as well and the champion check fails.
# READ also lets another user (a person added by the admin) browse everything without
# writing. The admin password is not in this file: MLflow reads MLFLOW_AUTH_ADMIN_PASSWORD.
# auth_cache_ttl_seconds: each request checks the password hash (scrypt) several times, which
# cost 0.5-0.9 s per request on this 2-core machine and a run makes ~80 of them; with the cache a
# worker checks each credential once a minute (a changed password can keep working on the other
# worker for up to 60 s).
cat >"$auth_dir/basic_auth.ini" <<EOF
[mlflow]
default_permission = READ
database_uri = $MLFLOW_AUTH_DATABASE_URI
admin_username = $MLFLOW_AUTH_ADMIN_USERNAME
auth_cache_ttl_seconds = 60
EOF
export MLFLOW_AUTH_CONFIG_PATH="$auth_dir/basic_auth.ini"

here="$(dirname "$0")"
python "$here/auth_bootstrap.py" prepare

mlflow server --app-name basic-auth "$@" &
server=$!
trap 'kill -TERM "$server" 2>/dev/null' TERM INT

if ! MLFLOW_SERVER_PID="$server" python "$here/auth_bootstrap.py" users; then
  echo "mlflow-entrypoint: could not set up the MLflow users; stopping the server" >&2
  kill -TERM "$server" 2>/dev/null || true
  wait "$server" || true
  exit 1
fi
touch "$auth_dir/ready"

# `wait` returns early when a trapped signal arrives; then wait for the server to finish.
set +e
wait "$server"
status=$?
if kill -0 "$server" 2>/dev/null; then
  wait "$server"
  status=$?
fi
exit "$status"
