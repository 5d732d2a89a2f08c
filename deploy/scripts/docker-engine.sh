#!/usr/bin/env bash
# Make sure a Docker engine answers `docker info`: install docker.io (+ the v1 docker-compose
# CLI) with apt when dockerd is missing, then start dockerd in the background if it is not
# running. Idempotent; waits at most DOCKERD_WAIT seconds (default 60) for the engine.
#   deploy/scripts/docker-engine.sh            # log in ${DOCKERD_LOG:-/tmp/dockerd.log}
set -euo pipefail

wait_s="${DOCKERD_WAIT:-60}"
log="${DOCKERD_LOG:-/tmp/dockerd.log}"

if docker info >/dev/null 2>&1; then
  echo "docker engine: already answering"
  exit 0
fi

apt_install() {
  if [ "$(id -u)" != 0 ]; then
    echo "docker-engine.sh: need root to apt-get install $*" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "$@" >/dev/null
}

missing=()
command -v dockerd >/dev/null || missing+=(docker.io)
command -v docker-compose >/dev/null || missing+=(docker-compose)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "docker engine: installing ${missing[*]}"
  apt_install "${missing[@]}"
fi

if ! pgrep -x dockerd >/dev/null; then
  echo "docker engine: starting dockerd (log: $log)"
  setsid dockerd >"$log" 2>&1 < /dev/null &
fi

for _ in $(seq "$wait_s"); do
  if docker info >/dev/null 2>&1; then
    echo "docker engine: ready ($(docker version --format '{{.Server.Version}}'))"
    exit 0
  fi
  sleep 1
done
echo "docker engine: dockerd did not answer within ${wait_s}s; last log lines:" >&2
tail -n 20 "$log" >&2 || true
exit 1
