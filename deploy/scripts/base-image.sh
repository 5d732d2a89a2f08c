#!/usr/bin/env bash
# A local stand-in for `python:3.11-slim` when Docker Hub cannot be reached: a Debian bookworm
# root filesystem (its python3 is 3.11) made with mmdebstrap and imported into the engine.
# Idempotent: does nothing when the image exists, or when the official image can be pulled
# (then pass nothing: the Dockerfile's default BASE_IMAGE is used).
#   deploy/scripts/base-image.sh    # prints the image to pass as --build-arg BASE_IMAGE=...
# Like the official slim image it has ca-certificates, netbase and tzdata (pyarrow needs the
# zoneinfo files).
# Env: LOCAL_BASE_IMAGE (default local/python:3.11-bookworm), BASE_IMAGE_CACHE (a directory
# where the rootfs tarball is kept so CI can cache it between steps), PULL_TIMEOUT (s, 20).
set -euo pipefail

image="${LOCAL_BASE_IMAGE:-local/python:3.11-bookworm}"
official="python:3.11-slim"
cache_dir="${BASE_IMAGE_CACHE:-}"

if docker image inspect "$image" >/dev/null 2>&1; then
  echo "$image"
  exit 0
fi
if docker image inspect "$official" >/dev/null 2>&1 \
  || timeout "${PULL_TIMEOUT:-20}" docker pull -q "$official" >/dev/null 2>&1; then
  echo "$official"
  exit 0
fi

tarball=""
if [ -n "$cache_dir" ] && [ -s "$cache_dir/python-3.11-bookworm.tar" ]; then
  tarball="$cache_dir/python-3.11-bookworm.tar"
  echo "base image: importing cached rootfs $tarball" >&2
else
  if ! command -v mmdebstrap >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mmdebstrap >/dev/null 2>&1 || {
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mmdebstrap >/dev/null
    }
  fi
  workdir="$(mktemp -d)"
  trap 'rm -rf "$workdir"' EXIT
  tarball="$workdir/rootfs.tar"
  echo "base image: building a bookworm rootfs with mmdebstrap (about a minute)" >&2
  # The apt cache and lists are dropped so the image stays small (like the official slim one).
  mmdebstrap --quiet --variant=apt \
    --include=python3,python3-venv,ca-certificates,netbase,tzdata \
    --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin' \
    bookworm "$tarball" >&2
  if [ -n "$cache_dir" ]; then
    mkdir -p "$cache_dir"
    cp "$tarball" "$cache_dir/python-3.11-bookworm.tar"
  fi
fi
docker import \
  --change 'ENV LANG=C.UTF-8' \
  --change 'CMD ["python3"]' \
  "$tarball" "$image" >/dev/null
echo "$image"
