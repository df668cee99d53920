"""deploy/ cannot run here (no container engine): check that its files agree with the code."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from bot.config import Settings
from bot.webhook import READY_PATH, SHUTDOWN_GRACE, path_for

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
SETTINGS = {name.upper() for name in Settings.model_fields}


def _compose() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))


def _workers(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: service for name, service in compose["services"].items() if name.startswith("worker-")
    }


def _seconds(text: str) -> float:
    match = re.fullmatch(r"(\d+)(s|m)", text)
    assert match, text
    return int(match.group(1)) * (60 if match.group(2) == "m" else 1)


def test_compose_runs_several_workers_on_postgresql_with_known_settings() -> None:
    compose = _compose()
    workers = _workers(compose)
    assert len(workers) >= 2
    for name, worker in workers.items():
        environment = worker["environment"]
        unknown = set(environment) - SETTINGS
        assert unknown == set(), f"{name}: not settings of bot/config.py: {unknown}"
        assert environment["DATABASE_URL"].startswith("postgresql+asyncpg://")
        assert environment["DATABASE_URL"].rsplit("@", 1)[1].startswith("postgres:5432/")
        assert _seconds(worker["stop_grace_period"]) > SHUTDOWN_GRACE
        assert READY_PATH in " ".join(worker["healthcheck"]["test"])
    assert "postgres" in compose["services"]


def test_the_proxy_sends_webhooks_to_every_worker_and_checks_readiness() -> None:
    compose = _compose()
    caddyfile = (DEPLOY / "Caddyfile").read_text(encoding="utf-8")
    for name, worker in _workers(compose).items():
        port = worker["environment"]["WEBHOOK_LISTEN"].rsplit(":", 1)[1]
        assert f"{name}:{port}" in caddyfile
    assert f"health_uri {READY_PATH}" in caddyfile
    assert path_for("*") in caddyfile  # /webhook/*
    assert set(_workers(compose)) <= set(compose["services"]["caddy"]["depends_on"])


def test_systemd_units_use_known_settings_and_the_proxy_knows_their_ports() -> None:
    unit = (DEPLOY / "systemd" / "tocongnghe-bot@.service").read_text(encoding="utf-8")
    names = {line.split("=", 2)[1] for line in unit.splitlines() if line.startswith("Environment=")}
    assert names and names <= SETTINGS
    assert "Environment=WEBHOOK_LISTEN=127.0.0.1:%i" in unit
    timeout = int(re.search(r"^TimeoutStopSec=(\d+)$", unit, re.M).group(1))  # type: ignore[union-attr]
    assert timeout > SHUTDOWN_GRACE
    caddyfile = (DEPLOY / "systemd" / "Caddyfile").read_text(encoding="utf-8")
    assert f"health_uri {READY_PATH}" in caddyfile
    assert re.findall(r"127\.0\.0\.1:(\d+)", caddyfile)


def test_env_example_names_only_settings() -> None:
    example = (DEPLOY.parent / ".env.example").read_text(encoding="utf-8")
    names = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", example, re.M))
    assert {"DB_POOL_SIZE", "DB_MAX_OVERFLOW", "DATABASE_URL"} <= names
    assert names <= SETTINGS
