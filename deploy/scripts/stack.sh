#!/usr/bin/env bash
# The production stack (deploy/docker-compose.yml) on this machine's Docker engine.
#   deploy/scripts/stack.sh up        # engine, images, deploy/.env, `compose up`, wait healthy
#   deploy/scripts/stack.sh launch    # launch training_job (queued; the daemon starts it);
#                                      # prints the run id and link; WAIT=1 follows the run
#   deploy/scripts/stack.sh status    # services and run containers
#   deploy/scripts/stack.sh down [--volumes]   # stop everything; --volumes also drops the data
# Env: STACK_WAIT (s, default 240) bounds the wait for the webserver and MLflow;
# STACK_ENV_FILE (default deploy/.env; created from .env.example with random passwords);
# TRAINING_IMAGE, POSTGRES_IMAGE override the env file; REBUILD=1 rebuilds the image.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
deploy="$(cd "$here/.." && pwd)"
env_file="${STACK_ENV_FILE:-$deploy/.env}"
project="training_stack"

compose() {
  docker-compose -p "$project" -f "$deploy/docker-compose.yml" --env-file "$env_file" "$@"
}

env_value() {  # a variable from the environment, else from deploy/.env, else the default
  local name="$1" default="$2" value
  value="${!name:-}"
  if [ -z "$value" ] && [ -f "$env_file" ]; then
    value="$(sed -n "s/^${name}=//p" "$env_file" | tail -n 1)"
  fi
  echo "${value:-$default}"
}

# The passwords of deploy/.env: made up in Python and written straight to the file (mode 600),
# so none is ever on a command line (`ps`). A missing env file is copied from .env.example with
# a random value for each; an existing one only gets the ones it lacks (an env file from before
# MLflow had users).
SECRETS="POSTGRES_PASSWORD MLFLOW_ADMIN_PASSWORD MLFLOW_PIPELINE_PASSWORD"

write_secrets() {
  python3 - "$deploy/.env.example" "$env_file" $SECRETS <<'PY'
import os, secrets, sys
example, target, names = sys.argv[1], sys.argv[2], sys.argv[3:]
if os.path.exists(target):
    lines = open(target).read().splitlines()
    have = {line.split("=", 1)[0] for line in lines if "=" in line}
    added = [name for name in names if name not in have]
    lines += [f"{name}={secrets.token_hex(16)}" for name in added]
else:
    lines, added = [], names
    for line in open(example).read().splitlines():
        name = line.split("=", 1)[0]
        if name in names:
            line = f"{name}={secrets.token_hex(16)}"
        lines.append(line)
if added:
    fd = os.open(target + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write("\n".join(lines) + "\n")
    os.replace(target + ".tmp", target)
print(" ".join(added))
PY
}

ensure_env_file() {
  local existed=1 added
  [ -f "$env_file" ] || existed=0
  added="$(write_secrets)"
  if [ "$existed" = 1 ]; then
    if [ -n "$added" ]; then
      echo "stack: added random $added to $env_file"
    fi
  else
    echo "stack: wrote $env_file with random passwords ($added)"
    if docker volume inspect training_stack_postgres >/dev/null 2>&1; then
      echo "stack: warning: the volume training_stack_postgres already exists and keeps the" \
        "password it was created with; if services fail to log in, restore the old env file" \
        "or drop the data with: $0 down --volumes" >&2
    fi
  fi
}

service_health() {  # the healthcheck status of a compose service's container
  local id
  id="$(docker ps -q --filter "label=com.docker.compose.project=$project" \
    --filter "label=com.docker.compose.service=$1")"
  [ -n "$id" ] && docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{end}}' "$id"
}

up() {
  "$here/docker-engine.sh"
  ensure_env_file
  export TRAINING_IMAGE POSTGRES_IMAGE DOCKER_GID
  TRAINING_IMAGE="$(env_value TRAINING_IMAGE training-assets:dev)"
  if [ "${REBUILD:-0}" = 1 ] || ! docker image inspect "$TRAINING_IMAGE" >/dev/null 2>&1; then
    "$here/build-image.sh" "$TRAINING_IMAGE"
  fi
  POSTGRES_IMAGE="$(env_value POSTGRES_IMAGE postgres:16-bookworm)"
  if ! docker image inspect "$POSTGRES_IMAGE" >/dev/null 2>&1 \
    && ! timeout "${PULL_TIMEOUT:-20}" docker pull -q "$POSTGRES_IMAGE" >/dev/null 2>&1; then
    POSTGRES_IMAGE="$("$here/postgres-image.sh")"
  fi
  DOCKER_GID="$(stat -c %g /var/run/docker.sock)"
  compose up -d
  local port mlflow_port wait_s
  port="$(env_value DAGSTER_WEBSERVER_PORT 3000)"
  mlflow_port="$(env_value MLFLOW_PORT 5000)"
  wait_s="${STACK_WAIT:-240}"
  for _ in $(seq "$wait_s"); do
    # MLflow's /health needs no credentials; its container turns healthy only once the
    # entrypoint has set up the MLflow users (deploy/mlflow/entrypoint.sh).
    if python3 -c "import urllib.request as u; u.urlopen('http://127.0.0.1:$port/server_info', timeout=2); u.urlopen('http://127.0.0.1:$mlflow_port/health', timeout=2)" \
      2>/dev/null && [ "$(service_health mlflow)" = healthy ]; then
      echo "stack: up. Dagster UI http://127.0.0.1:$port  MLflow http://127.0.0.1:$mlflow_port" \
        "(users: MLFLOW_ADMIN_* / MLFLOW_PIPELINE_* in $env_file)"
      return 0
    fi
    if [ -n "$(compose ps -q webserver)" ] \
      && [ "$(docker inspect -f '{{.State.Status}}' "$(compose ps -q webserver)")" = exited ]; then
      echo "stack: the webserver exited" >&2
      break
    fi
    sleep 1
  done
  echo "stack: the webserver or MLflow is not answering (waited up to ${wait_s}s)" >&2
  compose ps >&2
  compose logs --tail 30 >&2
  return 1
}

launch() {
  # Through the webserver's GraphQL API, like the UI's launch button: the run is queued, the
  # daemon dequeues it and the DockerRunLauncher starts its container. Prints the run id and
  # its page; WAIT=1 (or --wait) follows it and reports how it ended.
  local wait=()
  if [ "${WAIT:-0}" = 1 ]; then wait=(--wait); fi
  python3 "$here/launch_run.py" --port "$(env_value DAGSTER_WEBSERVER_PORT 3000)" \
    "${wait[@]}" "$@"
}

status() {
  compose ps
  echo "run containers:"
  docker ps -a --filter label=training_stack.role=run \
    --format '{{.Names}}  {{.Status}}  run={{.Label "dagster/run_id"}}'
}

down() {
  local volumes=()
  if [ "${1:-}" = "--volumes" ]; then volumes=(--volumes); fi
  if ! docker info >/dev/null 2>&1; then
    echo "stack: no docker engine answering; nothing to stop"
    return 0
  fi
  local runs
  runs="$(docker ps -aq --filter label=training_stack.role=run)"
  if [ -n "$runs" ]; then
    # shellcheck disable=SC2086
    docker rm -f $runs >/dev/null
  fi
  if [ -f "$env_file" ]; then
    compose down --remove-orphans --timeout 20 "${volumes[@]}"
  else
    POSTGRES_PASSWORD=unused MLFLOW_ADMIN_PASSWORD=unused MLFLOW_PIPELINE_PASSWORD=unused \
      docker-compose -p "$project" -f "$deploy/docker-compose.yml" \
      down --remove-orphans --timeout 20 "${volumes[@]}"
  fi
  if [ "${#volumes[@]}" -gt 0 ]; then
    # Declared but not mounted by a compose service (only run containers use it).
    docker volume rm -f training_stack_feast >/dev/null 2>&1 || true
  fi
}

case "${1:-}" in
  up) up ;;
  launch) shift; launch "$@" ;;
  status) status ;;
  down) shift; down "$@" ;;
  *) echo "usage: $0 up|launch|status|down [--volumes]" >&2; exit 2 ;;
esac
