# The training pipeline's image: serves the code location over gRPC (port 4000) and runs
# Docker-launched runs; the production stack (deploy/) also uses it for the webserver, the
# daemon and the MLflow server, so every container sees the same paths.
#
#   docker build -t training-assets .                     # with Docker Hub
#   deploy/scripts/build-image.sh                         # here: local base image + CA secret
#
# Needs BuildKit (the CA bundle of a TLS-intercepting proxy is passed as the build secret
# `ca_bundle`, mounted only during the install steps; the build works without it).
ARG BASE_IMAGE=python:3.11-slim

# ---------------------------------------------------------------------------------------------
FROM ${BASE_IMAGE} AS build

ARG UV_VERSION=0.13.9
ENV UV_PYTHON_DOWNLOADS=never \
    UV_NO_CACHE=1 \
    UV_LINK_MODE=copy \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# uv in a throwaway venv of the build stage (the official image and Debian both have ensurepip).
RUN --mount=type=secret,id=ca_bundle \
    if [ -s /run/secrets/ca_bundle ]; then export PIP_CERT=/run/secrets/ca_bundle; fi \
    && python3 -m venv /opt/uv \
    && /opt/uv/bin/pip install --quiet "uv==${UV_VERSION}"

WORKDIR /app

# Dependencies first (cached while only the code changes): exactly what uv.lock pins, without
# the dev group and without the project itself, into a venv that has no pip.
COPY pyproject.toml uv.lock ./
RUN --mount=type=secret,id=ca_bundle \
    if [ -s /run/secrets/ca_bundle ]; then export SSL_CERT_FILE=/run/secrets/ca_bundle; fi \
    && /opt/uv/bin/uv export --frozen --no-dev --no-hashes --no-emit-project \
        --format requirements-txt -o /tmp/requirements.txt \
    && python3 -m venv --without-pip /app/.venv \
    && /opt/uv/bin/uv pip install --quiet --python /app/.venv/bin/python --no-deps \
        --no-compile -r /tmp/requirements.txt \
    && python3 -m compileall -q -j0 --invalidation-mode unchecked-hash /app/.venv/lib

# The code, and the deterministic sample data the pipeline reads (see deploy/README.md: the
# sources are generated at build time so a run container needs no mounted input).
COPY training_assets ./training_assets
COPY feature_repo ./feature_repo
RUN /app/.venv/bin/python -m training_assets.sample_data --out-dir /app/data \
    && rm -rf /app/feature_repo/data \
    && /app/.venv/bin/python -m compileall -q -j0 /app/training_assets /app/feature_repo

# ---------------------------------------------------------------------------------------------
FROM ${BASE_IMAGE}

# A fixed, non-root uid/gid so named volumes keep the same owner across image rebuilds.
ARG APP_UID=10001
RUN groupadd --system --gid "${APP_UID}" dagster \
    && useradd --system --uid "${APP_UID}" --gid dagster --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin dagster

COPY --from=build --chown=root:root /app /app
# Writable state only where it is written: stored asset values, Dagster home and logs (var/),
# MLflow server artifacts (var/mlflow) and the Feast registry (feature_repo/data). The stack
# mounts named volumes there; a new volume takes its owner from these directories.
RUN mkdir -p /app/var/dagster_home /app/var/mlflow /app/feature_repo/data \
    && chown -R dagster:dagster /app/var /app/feature_repo/data

ENV PATH=/app/.venv/bin:${PATH} \
    PYTHONPATH=/app \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    GIT_PYTHON_REFRESH=quiet \
    DAGSTER_HOME=/app/var/dagster_home \
    HOME=/app/var

WORKDIR /app
USER dagster
EXPOSE 4000

# The code location over gRPC. Run containers override the command (`dagster api execute_run`).
CMD ["dagster", "code-server", "start", "-h", "0.0.0.0", "-p", "4000", \
     "-m", "training_assets.definitions", "--working-directory", "/app", \
     "--location-name", "training_assets"]
