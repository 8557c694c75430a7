# syntax=docker/dockerfile:1
# q2c in one image: the worker (default), the webhook receiver (`webhook`) and the CLI (any other
# `q2c` command), as a non-root user. Build: `docker build -t q2c:local .`; docker-compose.yml
# builds and runs it. See docs/DEPLOYMENT.md.
#
# The base is pinned by exact version and by the digest of its multi-platform index, as the
# Docker official images publish it (docker-library/repo-info, repos/python/remote/
# 3.11.15-slim-bookworm.md): the same bytes on every build. Python 3.11 is the version the
# test suite runs on. To move to a newer build, update tag and digest together.
ARG PYTHON_IMAGE=python:3.11.15-slim-bookworm@sha256:d29f48a31a8b408ed19272ca1e7b10ebae13b240a27e862d3d4217c528e2e0c3

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN python -m venv /opt/q2c
# Only what the package needs; tests, docs and local state stay out (.dockerignore too).
COPY pyproject.toml README.md worker.py ./
COPY deploy/constraints.txt deploy/constraints.txt
COPY domain/ domain/
COPY adapters/ adapters/
COPY activities/ activities/
COPY workflows/ workflows/
COPY starter/ starter/
COPY sandbox/ sandbox/
# Exactly the versions the test suite ran with (deploy/constraints.py writes the file).
RUN /opt/q2c/bin/pip install --no-compile -c deploy/constraints.txt . \
    && /opt/q2c/bin/python -m compileall -q /opt/q2c/lib

FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="q2c" \
      org.opencontainers.image.description="Quote-to-cash orchestrator on Temporal: worker, webhook receiver and CLI" \
      org.opencontainers.image.licenses="Apache-2.0"
# A fixed numeric uid/gid, so orchestrators can check runAsNonRoot and volumes can be chowned.
RUN groupadd --system --gid 10001 q2c \
    && useradd --system --uid 10001 --gid q2c --home-dir /var/lib/q2c --create-home \
       --shell /usr/sbin/nologin q2c
COPY --from=build /opt/q2c /opt/q2c
COPY deploy/healthcheck.py deploy/ledger_schema.py /opt/q2c/share/
ENV PATH=/opt/q2c/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    Q2C_STATE_DIR=/var/lib/q2c \
    Q2C_WEBHOOK_HOST=0.0.0.0
WORKDIR /var/lib/q2c
USER 10001:10001
EXPOSE 8704
# No HEALTHCHECK here: one image plays three roles (worker, webhook receiver, one-shot CLI),
# each healthy in its own way, so docker-compose.yml gives each service its own check
# (`python /opt/q2c/share/healthcheck.py worker|webhook`).
# `q2c worker` handles SIGTERM: running activities get the graceful-shutdown window.
STOPSIGNAL SIGTERM
ENTRYPOINT ["q2c"]
CMD ["worker"]
