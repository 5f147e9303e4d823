# Warden: production image (gunicorn), multi-stage, non-root.
# Docker cannot run on the development machines of this project; this file is kept
# consistent with the Makefile path by hand (see docs/operations.md).
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN apt-get update && apt-get install -y --no-install-recommends build-essential libpq-dev gettext && rm -rf /var/lib/apt/lists/*
COPY requirements/ /tmp/requirements/
RUN python -m venv /opt/venv && /opt/venv/bin/pip install -r /tmp/requirements/production.txt

FROM python:3.11-slim
RUN apt-get update && apt-get install -y --no-install-recommends libpq5 gettext && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 warden
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 DJANGO_SETTINGS_MODULE=config.settings.production
WORKDIR /app
COPY --chown=warden:warden . /app
RUN SECRET_KEY=build-only-$(head -c 32 /dev/urandom | base64) DJANGO_SETTINGS_MODULE=config.settings.local \
    python manage.py collectstatic --noinput -v 0 && python manage.py compilemessages -v 0 --ignore=/opt/venv || true
USER warden
EXPOSE 8000
CMD ["gunicorn", "config.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-"]
