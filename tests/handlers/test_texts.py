"""Every template in content/messages renders, with plausible values, under StrictUndefined.

The variables a template needs are read from the template itself
(`jinja2.meta.find_undeclared_variables`) and filled from SAMPLES, a table of typical values by
variable name (dicts where a template reads attributes, lists where it iterates). A template that
needs a name the table lacks fails here: add a typical value for it. A variable compared with a
literal (`field == "quick_code"`, `reason in ("a", "b")`, `number == 1`) is rendered once with
each literal too, so every branch of an if/elif chain is rendered at least once.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import jinja2
import jinja2.meta
import pytest
from jinja2 import nodes

from bot.render import ZALO, plain
from handlers.texts import Texts

ROOT = Path(__file__).resolve().parents[2]
MESSAGES = ROOT / "content" / "messages"
TEXTS = {path.stem: Texts.load(path) for path in sorted(MESSAGES.glob("*.yaml"))}
# Rendered into files (an Excel sheet, the Markdown summary), never sent as a chat message.
NOT_CHAT = ("digest.xlsx.", "digest.summary.")

DAY = date(2025, 10, 3)
CHILD = {
    # A child unit of a digest (digest.child, digest.child_detail) and a tally of counts
    # (tally.mine): both are read as `c.<field>`.
    "name": "Thôn Phước Thịnh",
    "households_visited": 212,
    "households": 480,
    "share_visited": 0.4417,
    "bar": "▓▓░░░",
    "five": 0.18,
    "vneid": 0.52,
    "dvc": 0.37,
    "today": {"households_visited": 9},
    "members": 7,
    "reported": 4,
    "villages": 0,
    "villages_active": 0,
    "reports": 230,
    "dk2": 118,
    "kh": 96,
    "cqn": 64,
    "proficient": 41,
}
COUNTS: list[dict[str, Any]] = [
    {"code": "dk2", "label": "Đăng ký định danh mức 2", "value": 2},
    {"code": "kh", "label": "Kích hoạt định danh", "value": 1},
    {"code": "cqn", "label": "Cài C-Quảng Ngãi", "value": 0},
]
TALLY = {"reports": 6, "households": 6, "dk2": 5, "kh": 4, "cqn": 3, "proficient": 2}
TARGET = {
    "key": "vneid_registration",
    "label": "Công dân có định danh điện tử mức 2",
    "value": 0.62,
    "goal": 0.8,
    "bar": "▓▓▓▓▓▓░░░░",
    "numerator": 2480,
    "denominator": 4000,
    "base": "households",
    "today": 12,
    "yesterday": 9,
}
FIGURES = {"name": "Thôn 1", "households_visited": 212, "households": 480, "reports": 231}
DIGEST = {
    "unit": {"name": "Thôn 1", "kind": "village"},
    "day": DAY,
    "is_today": True,
    "plan_title": "Ra quân hướng dẫn kỹ năng số 15/9 – 20/10/2025",
    "members": 7,
    "reported": 4,
    "idle": 3,
    "idle_names": [
        {"name": "Trần Thị Bình", "village": "Thôn 1"},
        {"name": "Lê Văn Cường", "village": "Thôn 1"},
        {"name": "Phạm Thị Dung", "village": "Thôn 1"},
    ],
    "idle_more": 0,
    "villages": 0,
    "villages_active": 0,
    "best_area": "Xã Đức Chánh",
    "best": [
        {"name": "Thôn 2", "share": 0.61, "visited": 301, "households": 493},
        {"name": "Thôn 1", "share": 0.44, "visited": 212, "households": 480},
        {"name": "Thôn 5", "share": 0.39, "visited": 188, "households": 482},
    ],
    "own_rank": 2,
}
SUMMARY_COMMUNE = {
    "name": "Xã Đức Chánh",
    "teams": 7,
    "villages": 8,
    "members": 52,
    "households_visited": 1630,
    "households": 3900,
    "share": 0.418,
    "positions": [{"label": "Tổ trưởng", "count": 7}, {"label": "Giáo viên", "count": 11}],
    "targets": [{**TARGET, "value": 0.62, "goal": 0.8}],
    "deliverables": [{"title": "Kiện toàn Tổ", "day": DAY}, {"title": "Kế hoạch", "day": None}],
}
STEP_BODY = (
    "Mở ứng dụng VNeID, chọn “Đăng nhập”. Gõ số định danh cá nhân (12 số trên căn cước) và mật "
    "khẩu đã đặt. Nếu quên mật khẩu, chọn “Quên mật khẩu” rồi làm theo hướng dẫn: ứng dụng gửi "
    "mã OTP về số điện thoại đã đăng ký với Công an. Không đọc mã OTP cho bất kỳ ai, kể cả người "
    "xưng là công an hay nhân viên ngân hàng. Đăng nhập xong, kiểm tra họ tên, ngày sinh ở trang "
    "“Thông tin cá nhân”; sai chỗ nào thì mang căn cước đến Công an xã để sửa."
)
ANNOUNCEMENT = (
    "Sáng thứ Bảy 12/10, Tổ công nghệ số có mặt tại nhà văn hoá thôn từ 7h30 đến 11h để hướng "
    "dẫn bà con cài và kích hoạt VNeID, thanh toán tiền điện qua ứng dụng ngân hàng. Bà con mang "
    "theo căn cước và điện thoại đã sạc pin. Người cao tuổi cần người đến nhà thì báo Tổ trưởng."
)

# Typical values by variable name.
SAMPLES: dict[str, Any] = {
    "account": "Xã Đức Hiệp",
    "action": "report",
    "address": "số 12 xóm Đông",
    "attachment": "photo",
    "audience": "members",
    "body": STEP_BODY,
    "c": {**CHILD, **TALLY},
    "c_counts": [{**count, "value": count["value"] * 40} for count in COUNTS],
    "category": "🪪 VNeID",
    "channel": "Zalo",
    "chats": 180,
    "code": "ABCD2345",
    "command": "thongke",
    "commune": "Xã Đức Chánh",
    "communes": [SUMMARY_COMMUNE, {**SUMMARY_COMMUNE, "name": "Xã Đức Nhuận"}],
    "confirmed": 5,
    "contact": "Anh Tùng 0905 123 456, tối 19–21h",
    "count": 7,
    "counts": COUNTS,
    "cqn": 1,
    "current": "Zalo",
    "current_role": "Thành viên Tổ",
    "current_unit": "Thôn 1",
    "d": DIGEST,
    "date": date(2025, 10, 5),
    "day": DAY,
    "days": 30,
    "days_left": 3,
    "effective": date(2025, 7, 1),
    "new": "Xã Long Phụng",
    "old": "Xã Đức Nhuận",
    "successor": "Xã Long Phụng",
    "deliverable": "roster",
    "deliverables": True,
    "dk2": 2,
    "done": 4,
    "editing": False,
    "expires": date(2025, 10, 10),
    "field": "name",
    "five": 0.18,
    "follower": True,
    "followers": 25,
    "guide": "Kích hoạt tài khoản định danh điện tử",
    "header": "Câu hỏi của người dân trong 30 ngày qua (trang 1/3), nhiều lần nhất trước:",
    "heading": "Đăng nhập VNeID",
    "add": [{"name": "Thôn An Ba", "households": 450}, {"name": "Thôn C", "households": None}],
    "update": [{"name": "Thôn B", "households": 320, "before": 300}],
    "n_add": 2,
    "n_update": 1,
    "n_same": 4,
    "line": 3,
    "households": 450,
    "hint": "Thêm câu hỏi mẫu cho hướng dẫn phù hợp trong content/guides/_examples ạ.",
    "holding": False,
    "hours": 48,
    "id": 123,
    "intro": "Cần: điện thoại có VNeID, căn cước gắn chip, số điện thoại chính chủ.",
    "items": [
        {
            "day": DAY,
            "audience": "👥 Thành viên Tổ",
            "text": ANNOUNCEMENT[:120],
            "sent": 40,
            "pending": 2,
            "failed": 1,
            "held": 1,
            "routed": 3,
            "undeliverable": 1,
        }
    ]
    * 3,
    "kh": 2,
    "kind": "thôn, tổ dân phố",
    "label": "Tên chủ hộ",
    "left": 2,
    "length": 1350,
    "limit": 1000,
    "limit_kb": 1000,
    "lines": [
        f"{n}. cách kích hoạt vneid trên điện thoại cũ — {20 - n} lần, chưa có hướng dẫn"
        for n in range(1, 11)
    ],
    "link": "https://t.me/tocongnghe_bot?start=ABCD2345",
    "message": f"📢 <b>Thông báo – Thôn 1</b>\n{ANNOUNCEMENT}\n— Lê Văn Tám (Tổ trưởng)",
    "members": 6,
    "minutes": 15,
    "missing": ["Công an viên", "Giáo viên"],
    "more": ["kích hoạt định danh", "cài Công dân Quảng Ngãi"],
    "n": 12,
    "name": "Nguyễn Văn An",
    "names": True,
    "namesakes": 1,
    "note": "Nhà có người già, hẹn buổi chiều.",
    "number": 2,
    "officer": "Cán bộ xã Lê Văn Tám",
    "page": 2,
    "pages": 3,
    "percent": 82,
    "period": "trong 30 ngày qua",
    "plan": "Ra quân hướng dẫn kỹ năng số 15/9 – 20/10/2025",
    "position": "Giáo viên",
    "proficient": True,
    "quota": 3000,
    "upgrade": "Cần thêm thì nâng gói trong Zalo Bot Creator rồi đặt ZALO_MONTHLY_QUOTA cho đúng.",
    "reason": "",
    "role": "Thành viên Tổ",
    "root": "Huyện Mộ Đức",
    "rows": [
        {"position": "Tổ trưởng", "names": "Phạm Văn Trưởng"},
        {"position": "Giáo viên", "names": "Nguyễn Văn An, Trần Thị Bình"},
        {"position": "Công an viên", "names": "Lê Văn Cường"},
    ],
    "s": FIGURES,
    "score": 0.41,
    "seconds": 20,
    "sender": "Lê Văn Tám",
    "sent": 2460,
    "since": date(2025, 9, 15),
    "skills": "Dịch vụ công, Thanh toán online, An toàn trên mạng",
    "sources": [
        "Bộ Công an – Hướng dẫn kích hoạt tài khoản định danh điện tử (vneid.gov.vn)",
        "Cổng dịch vụ công quốc gia (dichvucong.gov.vn)",
    ],
    "switch": "!vai",
    "t": TALLY,
    "t_counts": COUNTS,
    "targets": [TARGET] * 5,
    "telegram_link": "https://t.me/tocongnghe_bot?start=LINK1234",
    "text": ANNOUNCEMENT,
    "title": "Kích hoạt tài khoản định danh điện tử",
    "today": DAY,
    "topic": "Cài VNeID",
    "total": 5,
    "unit": "Thôn 1, xã Đức Chánh",
    "units": ["Thôn 1", "Xã Đức Chánh"],
    "uses": 3,
    "user_quota": 1000,
    "value": "dk2=hai",
    "verified": date(2025, 9, 1),
    "village": "Thôn 1",
    "villages": [
        {"name": f"Thôn {i}", "done": i % 2 == 0, "count": 6, "missing": ["Công an viên"]}
        for i in range(1, 9)
    ],
    "what": "đăng ký định danh mức 2",
    "who": "99",
    "without": 2,
    "yesterday": {"households_visited": 7, "reports": 8},
    "zalo": 4,
}
# Where one name means something else in one template, that template's own values.
OVERRIDES: dict[str, dict[str, Any]] = {
    "announce.nobody": {"audience": "👥 Thành viên Tổ"},
    "announce.need_text": {"kind": "photo"},
    "deliverables.roster_village": {"done": date(2025, 10, 1)},
    "deliverables.progress_deadline": {
        "units": [
            {"name": f"Thôn {i}", "done": i < 5, "day": DAY if i < 5 else None}
            for i in (1, 2, 3, 4, 5, 6, 7, 8)
        ]
    },
    "digest.head": {"today": {"households_visited": 9, "reports": 11}},
    "digest.summary.markdown": {
        "total": {
            "teams": 50,
            "villages": 61,
            "members": 402,
            "households_visited": 12040,
            "households": 30110,
            "share": 0.3999,
        }
    },
}


def templates() -> Iterator[tuple[str, Texts, str]]:
    for catalog, texts in TEXTS.items():
        for key in texts.keys():
            yield catalog, texts, key


def variables(texts: Texts, key: str) -> set[str]:
    return jinja2.meta.find_undeclared_variables(texts.env.parse(texts._source[key]))


def compared_literals(texts: Texts, key: str) -> Iterator[tuple[str, Any]]:
    """(name, literal) for each `name == literal`, `name > literal`, `name in (literals)`."""
    tree = texts.env.parse(texts._source[key])
    for compare in tree.find_all(nodes.Compare):
        if not isinstance(compare.expr, nodes.Name):
            continue
        for operand in compare.ops:
            right = operand.expr
            values = right.items if isinstance(right, nodes.Tuple | nodes.List) else [right]
            for value in values:
                if isinstance(value, nodes.Const):
                    yield compare.expr.name, value.value


def cases(texts: Texts, key: str) -> Iterator[dict[str, Any]]:
    """The sample values, then one variant per literal a variable is compared with."""
    base = {name: SAMPLES[name] for name in variables(texts, key) if name in SAMPLES}
    base.update(OVERRIDES.get(key, {}))
    yield base
    for name, literal in compared_literals(texts, key):
        yield {**base, name: literal}


def test_the_sample_table_knows_every_variable_of_every_template() -> None:
    unknown = {
        f"{catalog}:{key}: {name}"
        for catalog, texts, key in templates()
        for name in variables(texts, key) - set(SAMPLES) - set(OVERRIDES.get(key, {}))
    }
    assert sorted(unknown) == []


def test_overrides_name_real_templates() -> None:
    keys = {key for _catalog, texts, key in templates()}
    assert sorted(set(OVERRIDES) - keys) == []


@pytest.mark.parametrize(
    ("texts", "key"),
    [pytest.param(texts, key, id=f"{catalog}:{key}") for catalog, texts, key in templates()],
)
def test_every_template_renders_with_typical_values(texts: Texts, key: str) -> None:
    for params in cases(texts, key):
        rendered = texts.render(key, **params)  # StrictUndefined: a missing attribute raises
        assert rendered, (key, params)
        assert "{{" not in rendered and "{%" not in rendered, rendered
        if not key.startswith(NOT_CHAT):
            # Zalo gets the plain text and sends at most 2000 characters in one message.
            assert len(plain(rendered)) <= ZALO.max_text, (key, len(plain(rendered)))


def test_a_missing_variable_is_an_error_not_a_blank() -> None:
    texts = TEXTS["vi"]
    with pytest.raises(jinja2.UndefinedError):
        texts.render("register.joined", name="An", role="Thành viên Tổ")


# --- every key the code names exists -----------------------------------------------------------
# tests/handlers/test_dispatch.py checks handlers/ (ctx.say/text/label and key-like strings);
# this checks the rest of the code that renders messages: bot/ and core/.
_RENDER = re.compile(r"\.render\(\s*\"([a-z_]+(?:\.[a-z0-9_]+)+)\"")


def test_every_key_rendered_outside_handlers_exists() -> None:
    keys = set(TEXTS["vi"].keys())
    sources = [p for folder in ("bot", "core") for p in sorted((ROOT / folder).rglob("*.py"))]
    assert sources
    named = []
    for path in sources:
        source = path.read_text(encoding="utf-8")
        named += [(path, key) for key in _RENDER.findall(source)]
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                text = node.value
                if re.fullmatch(r"[a-z_]+(\.[a-z0-9_]+)+", text) and text.split(".")[0] in {
                    key.split(".")[0] for key in keys
                } - {"labels"}:
                    named.append((path, text))
    assert named
    assert sorted(f"{p.relative_to(ROOT)}: {k}" for p, k in named if k not in keys) == []
