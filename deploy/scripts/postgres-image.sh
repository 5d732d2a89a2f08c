#!/usr/bin/env bash
# The Postgres image for the stack: the official one when it can be pulled, else a local build
# from the Debian base image (deploy/postgres/Dockerfile). Idempotent. Prints the image name.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
official="${POSTGRES_OFFICIAL_IMAGE:-postgres:16-bookworm}"
local_image="${LOCAL_POSTGRES_IMAGE:-local/postgres:15-bookworm}"

for image in "$local_image" "$official"; do
  if docker image inspect "$image" >/dev/null 2>&1; then
    echo "$image"
    exit 0
  fi
done
if timeout "${PULL_TIMEOUT:-20}" docker pull -q "$official" >/dev/null 2>&1; then
  echo "$official"
  exit 0
fi
base="$("$here/base-image.sh")"
echo "postgres image: building $local_image from $base" >&2
if docker buildx version >/dev/null 2>&1; then
  build=(docker build)
elif [ -x /usr/bin/docker ]; then
  build=(env DOCKER_BUILDKIT=1 /usr/bin/docker build)
else
  build=(env DOCKER_BUILDKIT=1 docker build)
fi
"${build[@]}" -q --build-arg "BASE_IMAGE=$base" -t "$local_image" "$here/../postgres" >&2
echo "$local_image"
