# Warden: production image (gunicorn), multi-stage, non-root.
# Docker cannot run on this project's development machines; what can be checked without
# it is (tests/core/test_settings.py): the collectstatic step below, run with production
# settings and the same build-only values, writes the manifest production needs, and
# docker-compose.yml parses and matches .env.example. See docs/operations.md.
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN apt-get update && apt-get install -y --no-install-recommends build-essential libpq-dev && rm -rf /var/lib/apt/lists/*
COPY requirements/ /tmp/requirements/
RUN python -m venv /opt/venv && /opt/venv/bin/pip install -r /tmp/requirements/production.txt

FROM python:3.11-slim
RUN apt-get update && apt-get install -y --no-install-recommends libpq5 gettext && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 warden
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 DJANGO_SETTINGS_MODULE=config.settings.production \
    STATIC_ROOT=/app/staticfiles MEDIA_ROOT=/app/media
WORKDIR /app
COPY --chown=warden:warden . /app
# Static files with the production storage (hashed names + staticfiles.json, which every
# {% static %} needs at run time) and the translations. Production settings refuse to
# load without their variables: these build-only values satisfy them and reach nothing
# (no database or Redis is contacted at build time). A failure here fails the build.
RUN SECRET_KEY="build-only-$(head -c 48 /dev/urandom | base64 | tr -d '/+=')" \
    ALLOWED_HOSTS=build.invalid DATABASE_URL=postgres://build@build.invalid/build \
    REDIS_URL=redis://build.invalid:6379/0 WARDEN_SECRETS_KEY=build-only WARDEN_AUDIT_SIGNING_KEY=build-only \
    WARDEN_REGION=eu WARDEN_ATTACHMENT_SCANNER=apps.core.files.ClamdScanner \
    python manage.py collectstatic --noinput -v 0 \
    && python manage.py compilemessages -v 0 \
    && mkdir -p /app/media && chown -R warden:warden /app/staticfiles /app/media
USER warden
EXPOSE 8000
CMD ["gunicorn", "config.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-"]
