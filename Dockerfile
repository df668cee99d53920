# The bot in one image: python -m bot run (Telegram and/or Zalo when their tokens are set, else the
# local chat).
#   docker build -t tocongnghe-bot .
#   docker run --rm -it --env-file .env -v tocongnghe-data:/app/data tocongnghe-bot
# Without any channel token it opens the local chat, which reads the terminal: keep -it then.
# Webhook mode: add -p 8080:8080 and put an HTTPS reverse proxy in front.
# SQLite by default (/app/data/bot.db, on the volume); set DATABASE_URL for PostgreSQL.
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
COPY handlers ./handlers
COPY db ./db
COPY bench ./bench
# tzdata: zoneinfo needs time zone data (TZ, Asia/Ho_Chi_Minh), which slim Debian images may lack.
# aiohttp: bot/serve.py imports the webhook server (bot/webhook.py, aiohttp) whenever a channel
# token is set, but pyproject.toml lists aiohttp only in the dev extra; without it `run` fails.
RUN pip install . tzdata "aiohttp>=3.9,<4" && rm -rf /src

# content/ is data, not a Python package, so pip does not install it. bot/config.py looks for it
# next to the installed packages (ROOT/content), which does not exist here, so every content path
# is set explicitly to the copy in /app/content.
WORKDIR /app
COPY content ./content
ENV PLAN_FILE=/app/content/plans/mo-duc-2024.yaml \
    UNITS_FILE=/app/content/units/mo-duc-2024.csv \
    MESSAGES_FILE=/app/content/messages/vi.yaml \
    GUIDES_DIR=/app/content/guides \
    DATABASE_URL=sqlite+aiosqlite:////app/data/bot.db \
    TZ=Asia/Ho_Chi_Minh

RUN useradd --create-home --uid 10001 --user-group bot \
    && mkdir -p /app/data \
    && chown bot:bot /app/data
USER bot

VOLUME ["/app/data"]
# The webhook server (WEBHOOK_LISTEN, default 0.0.0.0:8080; /webhook/telegram, /webhook/zalo,
# /healthz), open only when a channel runs by webhook. Long polling needs no inbound port.
EXPOSE 8080

CMD ["python", "-m", "bot", "run"]
