# syntax=docker/dockerfile:1
# janserver's gateway: gunicorn managing uvicorn workers that serve janserver.asgi on :8080.
#   docker build -t janserver .
#   docker run -p 8080:8080 --env-file .env janserver   (DATABASE_URL and the secrets set)
# Migrations are a separate step (the Helm chart runs them in a hook job):
#   docker run --env-file .env janserver manage migrate --no-input
ARG PYTHON_IMAGE=python:3.12-slim-trixie

# --- builder: the pinned requirements in a virtualenv ----------------------------------
FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
COPY requirements.txt /tmp/requirements.txt
RUN /opt/venv/bin/pip install -r /tmp/requirements.txt

# --- final: slim runtime, non-root, read-only friendly ---------------------------------
FROM ${PYTHON_IMAGE}
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DJANGO_SETTINGS_MODULE=janserver.settings
RUN groupadd --system --gid 10001 janserver \
    && useradd --system --uid 10001 --gid 10001 --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin janserver
WORKDIR /app
COPY --from=builder /opt/venv /opt/venv
# Owned by root: the server cannot change its own code.
COPY . .
# Static files are collected at build (DEBUG only so that settings need no secrets here);
# bytecode is compiled now because the root filesystem is read-only at run time.
RUN DJANGO_DEBUG=1 python manage.py collectstatic --no-input \
    && python -m compileall -q /app \
    && chmod 0755 /app/docker/entrypoint.sh
USER 10001:10001
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "/app/docker/healthcheck.py"]
ENTRYPOINT ["/app/docker/entrypoint.sh"]
CMD ["gunicorn", "-c", "gunicorn.conf.py"]
