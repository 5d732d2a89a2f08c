#!/usr/bin/env bash
# Prepare a clean CI machine for the Docker tests (`pytest -m docker`), from .ci/run:
#   bash deploy/scripts/ci-docker.sh
# 1. installs docker.io + docker-compose (v1) with apt and starts dockerd (docker-engine.sh);
# 2. the Python base image: official when pullable, else mmdebstrap (base-image.sh); its rootfs
#    tarball is cached in $DOCKER_CACHE_DIR (default ~/.cache/training-docker) so a later CI
#    step or run imports it in seconds instead of re-bootstrapping;
# 3. the Postgres image (postgres-image.sh), cached there too with `docker save`;
# 4. the pipeline image (build-image.sh), so the tests' own build only hits the layer cache.
# Idempotent; prints how long each step took. Does not start the stack: the tests do.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cache="${DOCKER_CACHE_DIR:-$HOME/.cache/training-docker}"
mkdir -p "$cache"

step() {
  local name="$1" start
  shift
  start=$(date +%s)
  "$@"
  echo "ci-docker: $name done in $(($(date +%s) - start)) s"
}

step "docker engine" "$here/docker-engine.sh"
base_image() {
  echo "ci-docker: base image $(BASE_IMAGE_CACHE="$cache" "$here/base-image.sh")"
}
step "base image" base_image

postgres_image() {
  local image="${LOCAL_POSTGRES_IMAGE:-local/postgres:15-bookworm}" tar="$cache/postgres.tar"
  if ! docker image inspect "$image" >/dev/null 2>&1 && [ -s "$tar" ]; then
    docker load -q -i "$tar" >/dev/null
  fi
  image="$("$here/postgres-image.sh")"
  if [ "$image" = "${LOCAL_POSTGRES_IMAGE:-local/postgres:15-bookworm}" ] && [ ! -s "$tar" ]; then
    docker save -o "$tar" "$image"
  fi
  echo "ci-docker: postgres image $image"
}
step "postgres image" postgres_image
pipeline_image() {
  local log="$cache/build-image.log"
  if ! "$here/build-image.sh" >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    return 1
  fi
  tail -n 1 "$log"
}
step "pipeline image" pipeline_image
docker images --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep -E 'local/|training-assets' || true
