# Production image: migrations run, then uvicorn serves. It starts with
# ZHENDI_ENV=production, so it refuses to run until the secrets are set:
#   docker run -e ZHENDI_DATABASE_URL=postgresql+asyncpg://zhendi@db/zhendi \
#     -e ZHENDI_JWT_SECRET=... -e ZHENDI_PII_KEY=... \
#     -e ZHENDI_WECHAT_APP_ID=... -e ZHENDI_WECHAT_APP_SECRET=... \
#     -e ZHENDI_REAL_NAME_VERIFIER=counter -e ZHENDI_LOCK_ADAPTER=mqtt \
#     -e ZHENDI_LOCK_COMMAND_SECRET=... -e ZHENDI_MQTT_URL=mqtts://... -p 8000:8000 zhendi
# One server process: on the SQLite default it must be one (it runs the periodic
# jobs, and `zhendi serve` refuses more). On PostgreSQL run more containers, or
# more processes in one, and `zhendi worker` for the jobs:
#   docker run ... zhendi zhendi serve --host 0.0.0.0 --port 8000 --workers 4
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /build
COPY pyproject.toml README.md alembic.ini ./
COPY app ./app
COPY migrations ./migrations
RUN pip install . \
    && rm -rf /build \
    && useradd --system --uid 10001 --create-home --home-dir /var/lib/zhendi zhendi

USER zhendi
WORKDIR /var/lib/zhendi
ENV ZHENDI_ENV=production \
    ZHENDI_DATABASE_URL=sqlite+aiosqlite:////var/lib/zhendi/zhendi.db
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"]
CMD ["zhendi", "serve", "--host", "0.0.0.0", "--port", "8000"]
