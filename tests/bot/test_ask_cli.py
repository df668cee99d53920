"""`python -m bot ask` — the evaluation contract — run as an evaluator would, and held against
what the chat shows a resident for the same words."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.app import App
from bot.render import plain
from tests.auxil.chat import Chat

ROOT = Path(__file__).resolve().parents[2]
EVAL = ROOT / "tests" / "data" / "ask_eval.jsonl"
KEYS = {"guide_id", "score", "alternatives", "urgent"}


def ask(tmp_path: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("TELEGRAM_", "ZALO_")) and key != "DATABASE_URL"
    }
    environment["DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path / 'ask.db'}"
    result = subprocess.run(
        [sys.executable, "-m", "bot", "ask", *args],
        cwd=ROOT,
        env=environment,
        input=stdin,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result


def answers(stdout: str) -> list[dict]:
    lines = stdout.splitlines()
    parsed = [json.loads(line) for line in lines]
    for answer in parsed:
        assert set(answer) == KEYS, answer
        assert answer["guide_id"] is None or isinstance(answer["guide_id"], str)
        assert isinstance(answer["score"], float)
        assert isinstance(answer["alternatives"], list)
    return parsed


def _questions() -> list[str]:
    """The brief's examples, greetings, out-of-scope questions and a slice of the eval set."""
    cases = [json.loads(line) for line in EVAL.read_text(encoding="utf-8").splitlines() if line]
    sample = [case["q"] for case in cases[::9]]
    return [
        "lam sao kich hoat vneid",
        "app bo cong an quen mk 6 so",
        "giá lúa hôm nay",
        "chào bot",
        "cảm ơn nhé",
        "Chào bác, cho tôi hỏi: con tôi gửi tiền qua điện thoại mà tôi không biết nhận, làm sao?",
        *sample,
    ]


QUESTIONS = _questions()


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    result = ask(tmp_path_factory.mktemp("ask"), "--json", "-", stdin="\n".join(QUESTIONS) + "\n")
    return answers(result.stdout)


def test_one_question_prints_one_object_with_exactly_the_agreed_keys(tmp_path: Path) -> None:
    (answer,) = answers(ask(tmp_path, "lam sao kich hoat vneid", "--json").stdout)
    assert answer["guide_id"] == "vneid-activate"
    assert answer["alternatives"] == []
    (answer,) = answers(ask(tmp_path, "giá lúa hôm nay", "--json").stdout)
    assert answer["guide_id"] is None


def test_standard_input_gets_one_answer_per_line_in_order(batch: list[dict]) -> None:
    assert len(batch) == len(QUESTIONS)
    assert batch[0]["guide_id"] == "vneid-activate"
    assert batch[1]["guide_id"] == "vneid-passcode-reset"
    assert batch[2]["guide_id"] is None
    assert batch[3] == {"guide_id": None, "score": 1.0, "alternatives": [], "urgent": None}
    assert batch[4] == {"guide_id": None, "score": 1.0, "alternatives": [], "urgent": None}


def test_windows_line_endings_give_the_same_answers(tmp_path: Path, batch: list[dict]) -> None:
    crlf = answers(ask(tmp_path, "--json", "-", stdin="\r\n".join(QUESTIONS[:6]) + "\r\n").stdout)
    assert [a["guide_id"] for a in crlf] == [a["guide_id"] for a in batch[:6]]


def test_a_blank_line_keeps_its_place_in_the_answers(tmp_path: Path) -> None:
    stdin = "lam sao kich hoat vneid\n\ngiá lúa hôm nay\napp bo cong an quen mk 6 so\n"
    got = answers(ask(tmp_path, "--json", "-", stdin=stdin).stdout)
    assert len(got) == 4
    assert [a["guide_id"] for a in got] == [
        "vneid-activate",
        None,
        None,
        "vneid-passcode-reset",
    ]


async def test_the_chat_shows_the_guide_the_command_names(app: App, batch: list[dict]) -> None:
    titles = {g.title: g.id for g in app.services.guides.all()}
    for n, (question, answer) in enumerate(zip(QUESTIONS, batch, strict=True)):
        resident = Chat(app, f"r-cli-{n}")
        replies = await resident.send(question)
        if answer["urgent"]:
            # danger now: the urgent steps first, then the guide the command names
            urgent_steps, reply = replies
            assert "113" in plain(urgent_steps.text), question
        else:
            (reply,) = replies
        text = plain(reply.text)
        offered = [
            choice.data.split(":")[2]
            for choice in reply.flat_choices()
            if choice.data.startswith("a:g:") and choice.data.endswith(":1")
        ]
        if answer["guide_id"] is None:
            assert "Bước" not in text, question
            assert offered == [], question
        elif answer["alternatives"]:
            # close guides: the chat offers the same ones, best first
            assert offered == [answer["guide_id"], *answer["alternatives"]][:4], question
        else:
            assert titles.get(text.splitlines()[0]) == answer["guide_id"], question
            assert "Bước 1/" in text, question
