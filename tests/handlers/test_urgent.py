"""Urgent help first: a resident who describes danger now gets what to do in the next minutes
in the first reply, then a guide, and the team one tap away; through the real dispatcher on
both databases."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.app import App
from bot.render import plain
from core.events import Reply
from db.repos import questions
from handlers.guides.library import GuideLibrary
from handlers.guides.search import GuideSearch, build_search
from handlers.guides.urgent import UrgentDetector, UrgentRulesError, load_rules
from tests.auxil.chat import Chat

ROOT = Path(__file__).resolve().parents[2]
GUIDES = ROOT / "content" / "guides"

# The three messages from issue 8 that got "no guide" before.
MUST_TRIGGER = [
    "tui lỡ đọc mã OTP cho người gọi điện xưng ngân hàng",
    "người ta gọi nói con tui bị tai nạn, đòi chuyển tiền mổ gấp",
    "tài khoản ngân hàng tự nhiên bị trừ hết tiền",
]
# Typed the way residents type: no marks, abbreviations, dialect.
LOOSE = [
    "tui lo doc ma otp cho nguoi goi xung ngan hang",
    "ng ta goi noi con toi bi tai nan doi ck tien mo gap",
    "tk ngan hang tu nhien bi tru het tien",
    "zalo cua me bi hack roi",
    "dien thoai bi dieu khien tu xa sau khi cai app",
    "có người nhắn đe dọa tung ảnh nếu không chuyển tiền",
]


def is_urgent_steps(reply: Reply) -> bool:
    text = plain(reply.text)
    return "tổng đài ngân hàng" in text and "113" in text and "Công an xã" in text


@pytest.fixture(scope="module")
def search() -> GuideSearch:
    return build_search(GuideLibrary.load(GUIDES), GUIDES)


@pytest.mark.parametrize("message", MUST_TRIGGER + LOOSE)
def test_danger_now_is_flagged(search: GuideSearch, message: str) -> None:
    assert search.urgent(message) is not None


@pytest.mark.parametrize(
    "message",
    [
        "làm sao nhận biết cuộc gọi giả công an",
        "lam sao kich hoat vneid",
        "quên mật khẩu vneid",
        "chuyển khoản bằng điện thoại làm sao",
        "giá lúa hôm nay",
    ],
)
def test_ordinary_questions_are_not_flagged(search: GuideSearch, message: str) -> None:
    assert search.urgent(message) is None


def test_an_account_taken_over_points_to_the_account_guide(search: GuideSearch) -> None:
    message = "zalo bi hack roi, no nhan tin muon tien ban be"
    assert search.urgent(message) == "safety-account-hijacked"


def test_a_bad_rules_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "_urgent.yaml"
    path.write_text("groups: [a, b]\n", encoding="utf-8")
    with pytest.raises(UrgentRulesError):
        load_rules(path)
    with pytest.raises(UrgentRulesError):
        UrgentDetector({"safety-act-now": ["(unclosed"]})


@pytest.mark.parametrize("message", MUST_TRIGGER)
async def test_the_first_reply_says_what_to_do_now_then_a_guide(app: App, message: str) -> None:
    resident = Chat(app, f"r-urgent-{MUST_TRIGGER.index(message)}")
    replies = await resident.send(message)
    assert len(replies) == 2, [plain(r.text) for r in replies]
    first, second = replies
    assert is_urgent_steps(first)
    assert any("Nhờ Tổ giúp" in c.label for c in first.flat_choices())
    # then the steps of a safety guide, with the team offered again
    shown = plain(second.text).splitlines()[0]
    safety = {g.title: g for g in app.services.guides.by_category("safety")}
    assert shown in safety
    assert "Bước 1/" in plain(second.text)
    assert any("Nhờ Tổ giúp" in c.label for c in second.flat_choices())
    async with app.db.read() as conn:
        rows = await questions.unanswered(conn, None, kinds=("urgent",))
    assert any(r["text"] == message for r in rows)


async def test_the_team_button_starts_a_help_request(app: App) -> None:
    resident = Chat(app, "r-urgent-help")
    await resident.send(MUST_TRIGGER[0])
    replies = await resident.press("Nhờ Tổ giúp")
    assert replies  # the help request flow asks its first question
    assert "Bác ở xã nào" in plain(replies[-1].text)


async def test_a_question_about_scams_gets_the_guide_without_the_alarm(app: App) -> None:
    resident = Chat(app, "r-calm")
    replies = await resident.send("làm sao nhận biết cuộc gọi giả công an")
    assert not any(is_urgent_steps(r) for r in replies)
    assert plain(replies[0].text).startswith("Nhận biết lừa đảo")


async def test_inside_a_flow_a_resident_still_gets_the_urgent_steps_first(app: App) -> None:
    resident = Chat(app, "r-urgent-flow")
    await resident.send("/lienhe")  # the help request flow waits for the commune
    replies = await resident.send("cuu voi, tui vua bi lua chuyen 20 trieu")
    assert is_urgent_steps(replies[0])
    assert len(replies) >= 2  # the flow goes on after the urgent steps
