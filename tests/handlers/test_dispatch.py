"""The dispatcher: exactly-once delivery, stale buttons, typed choices, and the message catalog."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import jinja2
import pytest
import yaml

from bot.app import App
from core import roles
from core.events import Attachment, Reply
from db.repos import people
from handlers import menu, report
from handlers.routes import COMMANDS, commands_for
from handlers.services import stats
from tests.auxil.chat import Chat, Clock, join

ROOT = Path(__file__).resolve().parents[2]
CATALOG = ROOT / "content" / "messages" / "vi.yaml"
HANDLERS = ROOT / "handlers"
VILLAGE = "duc-chanh-thon-1"
EXAMPLE = "/bc Nguyễn Văn An; số 12 xóm Đông; dvc,mua,tt,atm,dp; dk2=2 kh=2 cqn=1 thanhthao=1"
HOME_UNIT = {
    roles.MEMBER: VILLAGE,
    roles.DEPUTY: VILLAGE,
    roles.LEADER: VILLAGE,
    roles.COMMUNE_OFFICER: "duc-chanh",
    roles.DISTRICT_OFFICER: "mo-duc",
    roles.ADMIN: "mo-duc",
}


async def figures(app: App, code: str = VILLAGE) -> dict[str, Any]:
    async with app.db.read() as conn:
        return await stats.for_unit(conn, app.services.plan, code)


async def as_role(app: App, role: str, user: str, clock: Clock | None = None) -> Chat:
    if role == roles.RESIDENT:
        return Chat(app, user, clock=clock)
    return await join(app, role, HOME_UNIT[role], user, clock=clock)


def catalog() -> dict[str, str]:
    def flatten(prefix: str, value: Any) -> dict[str, str]:
        if isinstance(value, dict):
            out: dict[str, str] = {}
            for key, inner in value.items():
                out |= flatten(f"{prefix}.{key}" if prefix else str(key), inner)
            return out
        return {prefix: str(value)}

    return flatten("", yaml.safe_load(CATALOG.read_text(encoding="utf-8")))


def labels(chat: Chat) -> list[str]:
    return [c.label for r in chat.screen for c in r.flat_choices()]


def assert_clean(replies: list[Reply]) -> None:
    """What a person must never see: internals, template syntax, the apology for a crash."""
    for reply in replies:
        for text in (reply.text, *(c.label for c in reply.flat_choices())):
            assert "Traceback" not in text and "Error" not in text, text
            assert "{{" not in text and "}}" not in text and "{%" not in text, text
            assert "bot vừa gặp trục trặc" not in text, text


# --- exactly once ----------------------------------------------------------------------------
async def test_same_update_twice_gets_the_stored_replies_and_one_report(app: App) -> None:
    chat = await join(app, "member", VILLAGE, "m1")
    event = chat._event(text=EXAMPLE)
    first = await chat.deliver(event)
    again = await chat.deliver(event)
    assert again == first
    assert "Đã lưu" in first[0].text
    assert (await figures(app))["reports"] == 1


async def test_same_button_press_twice_changes_nothing_more(app: App) -> None:
    chat = await join(app, "member", VILLAGE, "m1")
    await chat.send("/baocao")
    await chat.send("Trần Thị Bích")
    await chat.press("Bỏ qua")
    await chat.press("Dịch vụ công")
    await chat.press("Xong")
    await chat.press("Chưa")
    press = chat._event(choice=chat.find("Lưu").data)
    first = await chat.deliver(press)
    again = await chat.deliver(press)
    assert again == first and "Đã lưu báo cáo hộ" in first[0].text
    assert (await figures(app))["reports"] == 1


# --- buttons ---------------------------------------------------------------------------------
async def test_a_button_from_an_earlier_step_is_stale(app: App) -> None:
    chat = await join(app, "member", VILLAGE, "m1")
    await chat.send("/baocao")
    old_cancel = chat.find("Huỷ").data
    await chat.send("Trần Thị Bích")
    assert "số nhà, xóm" in chat.text
    await chat.press_data(old_cancel)
    assert "Nút này đã cũ" in chat.text
    assert (await figures(app))["reports"] == 0


async def test_after_a_stale_press_the_current_buttons_still_work(app: App) -> None:
    chat = await join(app, "member", VILLAGE, "m1")
    await chat.send("/baocao")
    old_cancel = chat.find("Huỷ").data
    await chat.send("Trần Thị Bích")
    skip = chat.find("Bỏ qua").data
    await chat.press_data(old_cancel)
    await chat.press_data(skip)
    assert "đã hướng dẫn những gì" in chat.text


@pytest.mark.parametrize("data", ["garbage", "v999:skip", "a:nope:1", "a:undo:abc", "a:menu:zzz"])
async def test_unknown_or_forged_buttons_are_stale(app: App, data: str) -> None:
    chat = await join(app, "member", VILLAGE, "m1")
    await chat.press_data(data)
    assert "Nút này đã cũ" in chat.text
    assert_clean(chat.screen)


async def test_a_menu_button_respects_the_role(app: App) -> None:
    chat = await join(app, "member", VILLAGE, "m1")
    await chat.press_data("a:menu:moi")
    assert "Nút này đã cũ" in chat.text
    assert "vai trò nào" not in chat.text


# --- commands -------------------------------------------------------------------------------
async def test_unknown_command_points_to_help(app: App) -> None:
    chat = await join(app, "member", VILLAGE, "m1")
    await chat.send("/khongco")
    assert "Bot chưa biết lệnh /khongco" in chat.text and "/trogiup" in chat.text


async def test_english_aliases_work(app: App) -> None:
    chat = await join(app, "member", VILLAGE, "m1")
    await chat.send("/help")
    assert "Các lệnh dùng được" in chat.text
    await chat.send("/baocao")
    await chat.send("/cancel")
    assert "Đã huỷ" in chat.text


async def test_command_with_the_bot_name_works(app: App) -> None:
    chat = await join(app, "member", VILLAGE, "m1")
    await chat.send("/trogiup@tocongnghe_bot")
    assert "Các lệnh dùng được" in chat.text


@pytest.mark.parametrize("cancel", ["/huy", "huy", "Huỷ", "0"])
async def test_cancel_mid_report_saves_nothing(app: App, cancel: str) -> None:
    chat = await join(app, "member", VILLAGE, "m1")
    await chat.send("/baocao")
    await chat.send("Trần Thị Bích")
    await chat.press("Bỏ qua")
    await chat.press("Dịch vụ công")
    await chat.press("Xong")
    await chat.send(cancel)
    assert "Đã huỷ" in chat.text and "Chưa có gì được lưu" in chat.text
    assert (await figures(app))["reports"] == 0
    # The flow is over: a typed name is no longer taken as part of a report.
    await chat.send("Nguyễn Văn An")
    assert "đã hướng dẫn những gì" not in chat.text
    assert (await figures(app))["reports"] == 0


async def test_cancel_with_nothing_open(app: App) -> None:
    chat = await join(app, "member", VILLAGE, "m1")
    await chat.press("Công an viên")
    await chat.send("/huy")
    assert "không có việc gì đang làm dở" in chat.text


async def test_a_message_without_text_is_explained(app: App) -> None:
    chat = await join(app, "member", VILLAGE, "m1")
    replies = await chat.deliver(chat._event(attachment=Attachment("photo", "file-1")))
    assert replies[0].text == app.services.texts.render("help.unsupported")
    # Never a dead end: the open step's options come again (the position, after joining).
    assert "Giáo viên" in [c.label for c in replies[-1].flat_choices()]


# --- typed choices -----------------------------------------------------------------------------
async def position_after(app: App, user: str, action: str, value: str) -> tuple[str, str | None]:
    chat = await join(app, "member", VILLAGE, user)
    if action == "press":
        await chat.press(value)
    else:
        await chat.send(value)
    async with app.db.read() as conn:
        person = await people.by_account(conn, chat.channel, chat.user)
    assert person is not None
    return chat.screen[0].text, person.position


async def test_typed_number_and_label_choose_like_pressing(app: App) -> None:
    pressed = await position_after(app, "p0", "press", "Công an viên")
    assert pressed[1] == "police"
    for user, typed in [("p1", "3"), ("p2", "Công an viên"), ("p3", "cong an vien"), ("p4", "3.")]:
        assert await position_after(app, user, "type", typed) == pressed, typed


async def test_typed_label_with_a_mark_chooses_it(app: App) -> None:
    chat = await join(app, "member", VILLAGE, "m1")
    await chat.send("/baocao")
    await chat.send("Trần Thị Bích")
    await chat.send("bo qua")
    await chat.send("an toan tren mang")
    assert "✅ An toàn trên mạng" in labels(chat)
    await chat.press("Xong")
    await chat.send("chua")
    await chat.send("luu")
    assert "Đã lưu báo cáo hộ" in chat.text
    assert (await figures(app))["reports"] == 1


async def test_typed_count_that_is_a_button_label_means_that_number(app: App) -> None:
    chat = await join(app, "member", VILLAGE, "m1")
    base = await figures(app)
    await chat.send("/bc Trần Thị Bích; ; dvc")
    await chat.send("/sua")
    await chat.press("Trần Thị Bích")
    await chat.press("Sửa việc đã hướng dẫn")
    await chat.press("Đăng ký định danh mức 2")
    await chat.press("Xong")
    await chat.send("2")
    assert "Đăng ký định danh mức 2: 2 người" in chat.text
    await chat.press("Lưu thay đổi")
    assert (await figures(app))["vneid_registered"] == base["vneid_registered"] + 2


@pytest.mark.parametrize(
    "typed",
    [
        "6",
        "12",
    ],
)
async def test_typed_count_above_the_buttons_is_that_number(app: App, typed: str) -> None:
    chat = await join(app, "member", VILLAGE, "m1")
    await chat.send("/baocao")
    await chat.send("Trần Thị Bích")
    await chat.press("Bỏ qua")
    await chat.press("Đăng ký định danh mức 2")
    await chat.press("Xong")
    await chat.send(typed)
    await chat.press("Chưa")
    assert f"Đăng ký định danh mức 2: {typed} người" in chat.text


async def test_text_where_a_choice_is_expected_offers_the_choices_again(app: App) -> None:
    chat = await join(app, "member", VILLAGE, "m1")
    await chat.send("/baocao")
    await chat.send("Trần Thị Bích")
    await chat.press("Bỏ qua")
    offered = labels(chat)
    await chat.send("đã hướng dẫn hết rồi")
    assert "xin chọn một trong các mục" in chat.text
    assert labels(chat) == offered
    # The choices offered again work, pressed or typed.
    await chat.press("Dịch vụ công")
    assert "✅ Dịch vụ công" in labels(chat)
    await chat.send("khong biet")
    await chat.send("1")
    assert "✅ Dịch vụ công" not in labels(chat)
    await chat.send("1")
    assert "✅ Dịch vụ công" in labels(chat)
    await chat.press("Xong")
    assert "thành thạo" in chat.text


async def test_typed_label_with_a_trailing_mark_chooses_it(app: App) -> None:
    chat = await join(app, "member", VILLAGE, "m1")
    await chat.send("/baocao")
    await chat.send("Trần Thị Bích")
    await chat.press("Bỏ qua")
    await chat.press("Dịch vụ công")
    await chat.send("xong")
    assert "thành thạo" in chat.text


async def test_position_question_offers_again_after_stray_text(app: App) -> None:
    chat = await join(app, "member", VILLAGE, "m1")
    offered = labels(chat)
    await chat.send("tôi là giáo viên")
    assert "xin chọn một trong các mục" in chat.text
    assert labels(chat) == offered
    await chat.send("4")
    assert "Đã ghi vị trí: Giáo viên" in chat.text


# --- the message catalog -----------------------------------------------------------------------
def test_every_template_parses() -> None:
    env = jinja2.Environment()
    for key, source in catalog().items():
        try:
            env.parse(source)
        except jinja2.TemplateSyntaxError as error:  # pragma: no cover - the failure message
            pytest.fail(f"{key}: {error}")


async def test_every_template_compiles_with_the_apps_filters(app: App) -> None:
    env = app.services.texts.env
    for key in app.services.texts.keys():
        env.from_string(app.services.texts._source[key])


_CALL = re.compile(r"ctx\.(say|text|label)\(\s*\"([^\"{}]+)\"")


def handler_sources() -> list[Path]:
    return sorted(HANDLERS.rglob("*.py"))


def test_every_key_the_handlers_use_exists() -> None:
    keys = set(catalog())
    missing = []
    for path in handler_sources():
        for kind, key in _CALL.findall(path.read_text(encoding="utf-8")):
            full = f"labels.{key}" if kind == "label" else key
            if full not in keys:
                missing.append(f"{path.relative_to(ROOT)}: {full}")
    assert not missing


def test_every_key_like_string_in_handlers_exists() -> None:
    """Also keys chosen in an expression (`"a" if x else "b"`) and error classes' keys."""
    keys = set(catalog())
    sections = {key.split(".")[0] for key in keys} - {"labels"}
    missing = []
    for path in handler_sources():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
                continue
            text = node.value
            if re.fullmatch(r"[a-z_]+(\.[a-z0-9_]+)+", text) and text.split(".")[0] in sections:
                if text not in keys:
                    missing.append(f"{path.relative_to(ROOT)}:{node.lineno}: {text}")
    assert not missing


def test_every_key_built_from_a_name_exists() -> None:
    keys = set(catalog())
    wanted = [f"labels.role.{r}" for r in roles.ROLES]
    wanted += [f"labels.position.{p}" for p in roles.POSITIONS]
    wanted += [f"labels.skill.{s}" for s in report.SKILL_ORDER]
    wanted += [f"labels.count_field.{f}" for f in report.COUNT_FOR.values()]
    wanted += [f"labels.menu.{key}" for entries in menu.MENUS.values() for key, _ in entries]
    wanted += [f"help.commands.{c.name}" for c in COMMANDS]
    assert [key for key in wanted if key not in keys] == []


def test_every_invalid_field_has_a_label_or_its_own_sentence() -> None:
    keys = catalog()
    template = keys["errors.invalid_field"]
    fields = set()
    for path in handler_sources():
        fields |= set(re.findall(r"InvalidField\(\s*field=\"(\w+)\"", path.read_text("utf-8")))
    assert fields
    unexplained = [
        f for f in fields if f"labels.field.{f}" not in keys and f'field == "{f}"' not in template
    ]
    assert unexplained == []


# --- help lists what each role may do --------------------------------------------------------
@pytest.mark.parametrize("role", roles.ROLES)
async def test_help_lists_every_command_of_the_role(app: App, role: str) -> None:
    chat = await as_role(app, role, f"help-{role}")
    await chat.send("/trogiup")
    listed = set(re.findall(r"^/(\w+)", chat.text, flags=re.MULTILINE))
    assert listed == set(commands_for(role))


# --- a tour of everything a role can reach ----------------------------------------------------


@pytest.mark.parametrize(
    "role",
    [
        roles.RESIDENT,
        roles.MEMBER,
        roles.DEPUTY,
        roles.LEADER,
        roles.COMMUNE_OFFICER,
        roles.DISTRICT_OFFICER,
        roles.ADMIN,
    ],
)
async def test_no_reply_shows_internals(app: App, role: str) -> None:
    clock = Clock()
    chat = await as_role(app, role, f"tour-{role}", clock)
    seen: list[Reply] = list(chat.screen)
    if role in roles.TEAM_ROLES:
        seen += await chat.send(EXAMPLE)
        seen += await chat.send("/bc Lê Thị Hoa; ; tt,xyz")
    for name in commands_for(role):
        seen += await chat.send(f"/{name}")
        seen += await chat.send("/huy")
    seen += await chat.send("/menu")
    for choice in [c for r in chat.screen for c in r.flat_choices()]:
        seen += await chat.send("/menu")
        seen += await chat.press_data(choice.data)
        seen += await chat.send("chữ bất kỳ")
        seen += await chat.send("1")
        seen += await chat.send("/huy")
    seen += await chat.send("/khongco")
    seen += await chat.send("xin chào")
    seen += await chat.send("/dangky SAIMA123")
    assert seen
    assert_clean(seen)
