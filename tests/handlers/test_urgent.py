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


URGENT_NOW = """⚠️ Bác làm ngay mấy việc này ạ:
1. Dừng lại: cúp máy, không chuyển thêm tiền, không đọc thêm mã OTP, mật khẩu hay số thẻ cho ai.
2. Gọi ngay tổng đài ngân hàng của bác để khóa tài khoản, chặn giao dịch. Số tổng đài in ở mặt \
sau thẻ, hoặc trong ứng dụng của chính ngân hàng; không gọi số người lạ đưa.
3. Bị đe dọa, gặp nguy hiểm: gọi 113 (một – một – ba), miễn phí.
4. Giữ lại tin nhắn, số điện thoại, biên lai chuyển tiền. Không xóa gì cả.
5. Sau đó đến Công an xã trình báo.
Cần người giúp ngay, bác bấm “Nhờ Tổ giúp” ạ."""
"""The urgent first reply as the resident reads it (content/messages/vi.yaml `urgent.now`)."""

ACT_NOW_STEP_3 = """Vừa chuyển tiền cho kẻ gian hoặc lỡ đưa mã OTP, mật khẩu — làm ngay

Bước 3/9: Lỡ đưa mã OTP, mật khẩu, số thẻ
Ai có mã OTP hay mật khẩu của bác là có thể vào tài khoản và rút tiền. Bác làm ngay:
- gọi tổng đài ngân hàng (số in ở mặt sau thẻ) để khóa tài khoản, khóa thẻ;
- đổi mật khẩu ứng dụng ngân hàng, Zalo, Facebook, VNeID nếu đã lỡ đưa;
- không đọc thêm mã nào nữa, dù họ nói "gửi nhầm mã".

Nếu bác vừa cài ứng dụng lạ theo lời người gọi, xem ngay hướng dẫn "Điện thoại bị điều khiển \
sau khi cài ứng dụng hay bấm đường link — làm ngay"."""
"""What follows it for safety-act-now: the guide's title and its third step, since the
introduction and steps 1-2 say what the urgent reply already said."""


@pytest.mark.parametrize("message", MUST_TRIGGER)
async def test_the_first_reply_says_what_to_do_now_then_a_guide(app: App, message: str) -> None:
    resident = Chat(app, f"r-urgent-{MUST_TRIGGER.index(message)}")
    replies = await resident.send(message)
    assert len(replies) == 2, [plain(r.text) for r in replies]
    first, second = replies
    assert plain(first.text) == URGENT_NOW
    assert [c.label for c in first.flat_choices()] == ["🙋 Nhờ Tổ giúp"]
    # then the guide, not repeating the same steps: no introduction, from step 3
    assert plain(second.text) == ACT_NOW_STEP_3
    assert [c.label for c in second.flat_choices()] == [
        "⬅️ Quay lại",
        "Tiếp ➡️",
        "📚 Các chủ đề",
        "🙋 Nhờ Tổ giúp",
    ]
    async with app.db.read() as conn:
        rows = await questions.unanswered(conn, None, kinds=("urgent",))
    assert any(r["text"] == message for r in rows)


async def test_back_from_the_urgent_guide_shows_the_steps_left_out(app: App) -> None:
    resident = Chat(app, "r-urgent-back")
    await resident.send(MUST_TRIGGER[0])
    replies = await resident.press("⬅️ Quay lại")
    text = plain(replies[-1].text)
    assert text.startswith("Bước 2/9: Gọi ngay tổng đài ngân hàng\n")


async def test_after_the_urgent_reply_a_guide_comes_without_its_introduction(app: App) -> None:
    resident = Chat(app, "r-urgent-account")
    replies = await resident.send("zalo bi hack roi, no nhan tin muon tien ban be")
    assert len(replies) == 2, [plain(r.text) for r in replies]
    assert plain(replies[0].text) == URGENT_NOW
    guide = app.services.guides.get("safety-account-hijacked")
    assert guide is not None
    step = guide.steps[0]
    assert plain(replies[1].text) == (
        f"{guide.title}\n\nBước 1/{len(guide.steps)}: Báo ngay cho người thân,"
        f" bạn bè bằng cách khác\n{step.text}"
    )


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
