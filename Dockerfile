# The bot in one image: python -m bot run (Telegram and/or Zalo when their tokens are set, else the
# local chat).
#   docker build -t tocongnghe-bot .
#   docker run --rm -it --env-file .env -v tocongnghe-data:/app/data tocongnghe-bot
# Without any channel token it opens the local chat, which reads the terminal: keep -it then.
# Webhook mode: add -p 127.0.0.1:8080:8080 and put an HTTPS reverse proxy in front.
# SQLite by default (/app/data/bot.db, on the volume); set DATABASE_URL for PostgreSQL.
# A fresh database opens on the 2026 province (as `make run`): PLAN_FILE and UNITS_FILE below.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Install the packages (bot, handlers, db with its Alembic migrations, bench) and their
# dependencies from a scratch directory, then drop the sources: the image runs the installed copy.
# README.md is needed because pyproject.toml names it as the package's readme.
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY core ./core
COPY handlers ./handlers
COPY db ./db
COPY bench ./bench
# tzdata: zoneinfo needs time zone data (TZ, Asia/Ho_Chi_Minh), which slim Debian images may lack.
# aiohttp (the webhook server) is a dependency in pyproject.toml.
RUN pip install . tzdata && rm -rf /src

# content/ is data, not a Python package, so pip does not install it. bot/config.py looks for it
# next to the installed packages (ROOT/content), which does not exist here, so every content path
# is set explicitly to the copy in /app/content.
WORKDIR /app
COPY content ./content
ENV PLAN_FILE=/app/content/plans/quang-ngai-2026.yaml \
    UNITS_FILE=/app/content/units/quang-ngai-2026-start.yaml \
    MESSAGES_FILE=/app/content/messages/vi.yaml \
    GUIDES_DIR=/app/content/guides \
    DATABASE_URL=sqlite+aiosqlite:////app/data/bot.db \
    TZ=Asia/Ho_Chi_Minh \
    WEBHOOK_LISTEN=0.0.0.0:8080

RUN useradd --create-home --uid 10001 --user-group bot \
    && mkdir -p /app/data \
    && chown bot:bot /app/data
USER bot

VOLUME ["/app/data"]
# The webhook server (/webhook/telegram, /webhook/zalo, /healthz), open only when a channel runs
# by webhook; long polling needs no inbound port. Outside a container it listens on 127.0.0.1 by
# default; inside, loopback cannot be reached through a published port, so the image sets
# WEBHOOK_LISTEN=0.0.0.0:8080. Publish it on the host's loopback only (-p 127.0.0.1:8080:8080)
# for the HTTPS reverse proxy, and set WEBHOOK_TRUSTED_PROXIES to the address the proxy's
# requests come from inside the container (e.g. the Docker bridge gateway, 172.17.0.1).
EXPOSE 8080

CMD ["python", "-m", "bot", "run"]
