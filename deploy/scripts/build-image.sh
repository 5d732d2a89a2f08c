#!/usr/bin/env bash
# Build the pipeline image (Dockerfile at the repository root) with BuildKit.
#   deploy/scripts/build-image.sh [TAG]      # TAG default: ${TRAINING_IMAGE:-training-assets:dev}
# Uses the official python:3.11-slim base when it can be pulled, else the local base image
# (deploy/scripts/base-image.sh builds it). The host's CA bundle is passed as the build secret
# `ca_bundle` (used only by the install steps, never stored in the image) so pip/uv work
# through a TLS-intercepting proxy. Prints the build time.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
tag="${1:-${TRAINING_IMAGE:-training-assets:dev}}"
base="${BASE_IMAGE:-$("$here/base-image.sh")}"
ca="${BUILD_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"

# BuildKit: the docker CLI's buildx plugin when present; otherwise the engine-matched Debian
# client (docker.io 20.10), which has BuildKit built in.
if docker buildx version >/dev/null 2>&1; then
  build=(docker build)
elif [ -x /usr/bin/docker ]; then
  build=(env DOCKER_BUILDKIT=1 /usr/bin/docker build)
else
  build=(env DOCKER_BUILDKIT=1 docker build)
fi
secret=()
if [ -s "$ca" ]; then
  secret=(--secret "id=ca_bundle,src=$ca")
fi

start=$(date +%s)
"${build[@]}" --progress="${BUILD_PROGRESS:-plain}" \
  --build-arg "BASE_IMAGE=$base" "${secret[@]}" -t "$tag" "$root"
end=$(date +%s)
size=$(docker image inspect "$tag" --format '{{.Size}}')
echo "image $tag built from $base in $((end - start)) s; size $((size / 1000000)) MB"
