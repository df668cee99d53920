"""Log records never carry a bot token, a webhook secret or database row values."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from bot import logs

TOKEN = "8123456789:AAHc7s-Secret_Part-of-the-token-xyz"


@pytest.fixture
def redacting() -> Iterator[None]:
    """Redaction installed as `python -m bot` installs it, removed afterwards."""
    factory = logging.getLogRecordFactory()
    logs.install_redaction()
    yield
    logging.setLogRecordFactory(factory)


def test_a_token_in_an_httpx_url_is_redacted(
    redacting: None, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        logging.getLogger("httpx").info(
            'HTTP Request: POST %s "HTTP/1.1 401 Unauthorized"',
            f"https://api.telegram.org/bot{TOKEN}/getMe",
        )
    assert "bot<redacted>/getMe" in caplog.text
    assert "Secret_Part" not in caplog.text and "8123456789" not in caplog.text


def test_a_configured_secret_in_an_exception_is_redacted(
    redacting: None, caplog: pytest.LogCaptureFixture
) -> None:
    logs.add_secrets(["zalo-secret-token-value"])
    try:
        raise RuntimeError("refused: zalo-secret-token-value and token " + TOKEN)
    except RuntimeError:
        logging.getLogger("bot").exception("start-up failed")
    assert "RuntimeError: refused: <redacted> and token <redacted>" in caplog.text
    assert "zalo-secret-token-value" not in caplog.text and "Secret_Part" not in caplog.text


def test_postgresql_details_keep_columns_and_lose_values() -> None:
    detail = (
        "DETAIL:  Key (village_code, head_key)=(thon-1, nguyen van an) already exists.\n"
        "DETAIL:  Failing row contains (7, thon-1, Nguyễn Văn An, null, số 12)."
    )
    redacted = logs.redact(detail)
    assert "Key (village_code, head_key)=(<redacted>)" in redacted
    assert "Failing row contains (<redacted>)" in redacted
    assert "Nguyễn" not in redacted and "nguyen van an" not in redacted


def test_ordinary_text_is_left_alone() -> None:
    text = 'File "/app/bot/serve.py", line 12: python -m bot run at 12:30:45, chat 6001'
    assert logs.redact(text) == text
