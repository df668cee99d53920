"""Villages come from communes: a commune officer (or an admin) adds, renames and retires the
thôn / tổ dân phố of a commune and sets their household figures. Every change is audited and the
subtree totals (the targets' denominators) are recomputed at once."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from core import roles
from core.errors import InvalidField, NotAllowed, UnknownUnit
from core.text import strip_diacritics, tidy
from db.models import Person, Unit
from db.repos import audit, people, units
from handlers.services import unitsfile

NAME_LIMIT = 100
MAX_HOUSEHOLDS = 100_000
# Name prefixes and the type they mean; a name without one becomes "Thôn <name>".
_PREFIXES = (
    ("tổ dân phố", "tổ dân phố"),
    ("tdp", "tổ dân phố"),
    ("thôn", "thôn"),
    ("làng", "làng"),
    ("buôn", "buôn"),
    ("bản", "bản"),
    ("ấp", "ấp"),
    ("khu phố", "khu phố"),
)


async def commune_of(conn: AsyncConnection, person: Person, wanted: str | None) -> Unit:
    """The commune whose villages `person` manages: their own, or (an admin) the one named."""
    if not roles.can(person.role, roles.MANAGE_VILLAGES):
        raise NotAllowed(action="villages")
    anywhere = roles.can(person.role, roles.MANAGE_VILLAGES, roles.ANYWHERE)
    code = wanted or person.unit_code
    if not anywhere and code != person.unit_code:
        raise NotAllowed(action="villages")
    unit = await units.get(conn, code or "")
    if unit is None:
        raise UnknownUnit(code=code or "")
    if unit.kind != "commune" or not unit.active:
        raise InvalidField(field="village", reason="not_commune")
    return unit


async def listing(conn: AsyncConnection, commune: Unit) -> list[Unit]:
    """The commune's active villages, by name."""
    return await units.children(conn, commune.code)


async def find(conn: AsyncConnection, commune: Unit, ref: str) -> Unit:
    """A village of the commune by its number in `listing` (from 1) or its code."""
    found = await listing(conn, commune)
    word = ref.strip().lstrip("#")
    if word.isascii() and word.isdigit() and 1 <= int(word) <= len(found):
        return found[int(word) - 1]
    for village in found:
        if village.code == word:
            return village
    raise InvalidField(field="village", reason="no_such_village", value=ref)


def _named(raw: str) -> tuple[str, str]:
    """(full name, type) from what the officer typed: "An Ba" → ("Thôn An Ba", "thôn")."""
    name = tidy(raw)
    if not name or len(name) > NAME_LIMIT:
        raise InvalidField(field="village", reason="bad_name", limit=NAME_LIMIT)
    lowered = name.lower()
    for prefix, kind in _PREFIXES:
        if lowered == prefix or lowered.startswith(prefix + " "):
            rest = name[len(prefix) :].strip()
            if not rest:
                raise InvalidField(field="village", reason="bad_name", limit=NAME_LIMIT)
            title = "Tổ dân phố" if kind == "tổ dân phố" else kind.capitalize()
            return f"{title} {rest}", kind
    return f"Thôn {name}", "thôn"


def _slug(text: str) -> str:
    folded = strip_diacritics(text).lower().replace("đ", "d")
    return "-".join("".join(c if c.isascii() and c.isalnum() else " " for c in folded).split())


def households_of(raw: str) -> int:
    word = raw.strip().replace(".", "").replace(",", "")
    if not (word.isascii() and word.isdigit()) or int(word) > MAX_HOUSEHOLDS:
        raise InvalidField(field="village", reason="bad_households", limit=MAX_HOUSEHOLDS)
    return int(word)


async def _same_name(conn: AsyncConnection, commune: Unit, name: str) -> None:
    for village in await listing(conn, commune):
        if _slug(village.name) == _slug(name):
            raise InvalidField(field="village", reason="duplicate", value=village.name)


async def add(
    conn: AsyncConnection,
    actor: Person,
    commune: Unit,
    raw_name: str,
    households: int | None,
    now: datetime,
    *,
    admin_code: str | None = None,
) -> Unit:
    name, kind = _named(raw_name)
    await _same_name(conn, commune, name)
    base = f"{commune.code}-{_slug(name)}"[:60].rstrip("-")
    code, n = base, 1
    while await units.get(conn, code) is not None:
        n += 1
        code = f"{base}-{n}"
    row = {
        "code": code,
        "name": name,
        "kind": "village",
        "parent_code": commune.code,
        "path": f"{commune.path}{code}/",
        "depth": commune.depth + 1,
        "households": households,
        "type_label": kind,
        "valid_from": now.date(),
    }
    if admin_code:
        row["admin_code"] = admin_code
    await units.insert(conn, row)
    after: dict[str, object] = {"unit": code, "name": name}
    if admin_code:
        after["admin_code"] = admin_code
    await _audit(conn, actor, "village_add", None, after, now)
    await unitsfile.store_all_totals(conn)
    village = await units.get(conn, code)
    assert village is not None
    return village


async def rename(
    conn: AsyncConnection, actor: Person, commune: Unit, village: Unit, raw: str, now: datetime
) -> Unit:
    name, kind = _named(raw)
    if _slug(name) != _slug(village.name):
        await _same_name(conn, commune, name)
    await units.update(conn, village.code, name=name, type_label=kind)
    await _audit(
        conn,
        actor,
        "village_rename",
        {"unit": village.code, "name": village.name},
        {"unit": village.code, "name": name},
        now,
    )
    renamed = await units.get(conn, village.code)
    assert renamed is not None
    return renamed


async def set_households(
    conn: AsyncConnection, actor: Person, village: Unit, households: int, now: datetime
) -> None:
    await units.update(conn, village.code, households=households)
    await _audit(
        conn,
        actor,
        "village_households",
        {"unit": village.code, "households": village.households},
        {"unit": village.code, "households": households},
        now,
    )
    await unitsfile.store_all_totals(conn)


async def retire(conn: AsyncConnection, actor: Person, village: Unit, now: datetime) -> int:
    """Retire the village from today (its reports stay); returns how many people are still
    bound to it (to be invited to another village)."""
    await units.update(conn, village.code, valid_to=now.date())
    await _audit(
        conn,
        actor,
        "village_retire",
        {"unit": village.code, "valid_to": None},
        {"unit": village.code, "valid_to": now.date().isoformat()},
        now,
    )
    await unitsfile.store_all_totals(conn)
    return len(await people.bound_to(conn, village.code))


async def _audit(
    conn: AsyncConnection,
    actor: Person,
    action: str,
    before: dict[str, object] | None,
    after: dict[str, object],
    now: datetime,
) -> None:
    await audit.record(
        conn,
        person_id=actor.id,
        action=action,
        entity="unit",
        entity_id=None,
        before=before,
        after=after,
        now=now,
    )


# --- a list pasted in chat, or sent as a CSV / XLSX file: validated and previewed first -------
# Both become numbered rows of (name, households, code, admin code) and go through `_rows`:
# one set of rules, one preview, one apply.
MAX_LINES = 200
ADMIN_CODE_LIMIT = 16
MAX_COLUMNS = 20  # of a spreadsheet: name, households, code, admin code and some notes
Cells = tuple[int, str, str, str, str]  # line, name, households, code, admin code

# Header words (folded) → the column they name.
_HEADERS = {
    "ten": "name",
    "ten thon": "name",
    "ten thon, to dan pho": "name",
    "ten thon/to dan pho": "name",
    "thon": "name",
    "name": "name",
    "so ho": "households",
    "so ho gia dinh": "households",
    "tong so ho": "households",
    "ho": "households",
    "households": "households",
    "ma": "code",
    "code": "code",
    "ma hanh chinh": "admin_code",
    "ma hc": "admin_code",
    "admin code": "admin_code",
    "admin_code": "admin_code",
}


def _header(cell: str) -> str | None:
    """The column a header cell names: exact words first, then the usual longer forms ("Tên
    thôn/TDP", "Số hộ (2025)", "Mã hành chính thôn")."""
    word = " ".join(strip_diacritics(cell).lower().replace("đ", "d").split())
    if word in _HEADERS:
        return _HEADERS[word]
    if word.startswith("ten "):
        return "name"
    if "so ho" in word:
        return "households"
    if word.startswith(("ma hanh chinh", "ma hc")):
        return "admin_code"
    if word.startswith("ma thon"):
        return "code"
    return None


def parse_list(text: str) -> tuple[list[dict[str, object]], list[tuple[int, str]]]:
    """Lines "Tên thôn; số hộ" (tab, ";" or a last "," also separate; the number is optional).
    Returns the rows and, per faulty line, (line number, reason key)."""
    cells: list[Cells] = []
    lines = [line for line in text.splitlines()]
    for number, line in enumerate(lines[:MAX_LINES], start=1):
        if not line.strip():
            continue
        for separator in ("\t", ";"):
            if separator in line:
                name, _, figure = line.partition(separator)
                break
        else:
            name, _, figure = line.rpartition(",") if "," in line else (line, "", "")
        figure = figure.strip().split("\t")[0].split(";")[0].strip()
        if number == 1 and _header(name) == "name":
            continue  # a header row
        cells.append((number, name, figure, "", ""))
    rows, errors = _rows(cells)
    if len(lines) > MAX_LINES:
        errors.append((MAX_LINES + 1, "too_many"))
    return rows, errors


def parse_file(kind: str, content: bytes) -> tuple[list[dict[str, object]], list[tuple[int, str]]]:
    """A CSV or XLSX file (kind "csv" | "xlsx") with columns name, households and optionally
    code, admin code (a first row of headers says which column is which; without one: name,
    households). Rows are numbered as the spreadsheet shows them. An unreadable file raises
    InvalidField(reason="unreadable")."""
    table = _csv_table(content) if kind == "csv" else _xlsx_table(content)
    columns = {"name": 0, "households": 1}
    numbered = [(n, row) for n, row in table if any(cell.strip() for cell in row)]
    if numbered:
        found = {_header(cell): i for i, cell in enumerate(numbered[0][1]) if _header(cell)}
        if "name" in found:
            columns = {key: i for key, i in found.items() if key is not None}
            numbered = numbered[1:]

    def cell(row: list[str], key: str) -> str:
        i = columns.get(key)
        return row[i].strip() if i is not None and i < len(row) else ""

    cells = [
        (n, cell(row, "name"), cell(row, "households"), cell(row, "code"), cell(row, "admin_code"))
        for n, row in numbered[:MAX_LINES]
    ]
    rows, errors = _rows(cells)
    if len(numbered) > MAX_LINES:
        errors.append((numbered[MAX_LINES][0], "too_many"))
    return rows, errors


def _csv_table(content: bytes) -> list[tuple[int, list[str]]]:
    import csv
    import io

    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = content.decode("cp1258")  # Excel's "CSV" on a Vietnamese Windows
        except UnicodeDecodeError:
            raise InvalidField(field="village_file", reason="unreadable") from None
    if "\x00" in text:
        raise InvalidField(field="village_file", reason="unreadable")
    sample = text[:4096]
    delimiter = max((";", ",", "\t"), key=sample.count) if sample else ","
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    try:
        return [(reader.line_num, row) for row in reader]
    except csv.Error:
        raise InvalidField(field="village_file", reason="unreadable") from None


def _xlsx_table(content: bytes) -> list[tuple[int, list[str]]]:
    """The first sheet's values as text. Read-only and values only: a formula is never
    evaluated (a cell holding one reads as its formula text, which then fails the checks).
    Only the first columns and rows are read, however large the sheet says it is."""
    import io

    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(content), read_only=True, data_only=False)
    except Exception:  # any malformed workbook (zip, XML, openpyxl's own errors) is unreadable
        raise InvalidField(field="village_file", reason="unreadable") from None
    try:
        if not book.worksheets:
            return []
        table: list[tuple[int, list[str]]] = []
        cells = book.worksheets[0].iter_rows(values_only=True, max_col=MAX_COLUMNS)
        for number, values in enumerate(cells, start=1):
            if number > MAX_LINES + 2:
                table.append((number, ["…"]))  # enough to say "too many"
                break
            table.append((number, [_as_text(value) for value in values]))
        return table
    except Exception:
        raise InvalidField(field="village_file", reason="unreadable") from None
    finally:
        book.close()


def _as_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _rows(cells: list[Cells]) -> tuple[list[dict[str, object]], list[tuple[int, str]]]:
    """The rules every row obeys, pasted or from a file."""
    rows: list[dict[str, object]] = []
    errors: list[tuple[int, str]] = []
    for number, name, figure, code, admin_code in cells:
        try:
            full, kind = _named(name)
            households = households_of(figure) if figure else None
        except InvalidField as error:
            errors.append((number, str(error.params.get("reason", "bad_name"))))
            continue
        if admin_code and not (
            admin_code.isascii() and admin_code.isdigit() and len(admin_code) <= ADMIN_CODE_LIMIT
        ):
            errors.append((number, "bad_admin_code"))
            continue
        if any(_slug(str(row["name"])) == _slug(full) for row in rows):
            errors.append((number, "duplicate"))
            continue
        row: dict[str, object] = {"name": full, "type": kind, "households": households}
        if code:
            row.update(code=code, line=number)
        if admin_code:
            row["admin_code"] = admin_code
        rows.append(row)
    return rows, errors


async def preview(
    conn: AsyncConnection, commune: Unit, rows: list[dict[str, object]]
) -> dict[str, list[dict[str, object]]]:
    """What applying `rows` would do: villages to add, household figures to change, unchanged,
    and rows naming a code that is not a village of this commune ("unknown": nothing applies
    while there are any)."""
    villages = await listing(conn, commune)
    existing = {_slug(v.name): v for v in villages}
    by_code = {v.code: v for v in villages}
    plan: dict[str, list[dict[str, object]]] = {"add": [], "update": [], "same": [], "unknown": []}
    for row in rows:
        if row.get("code"):
            found = by_code.get(str(row["code"]))
            if found is None:
                plan["unknown"].append(row)  # a code that is not one of this commune's villages
                continue
        else:
            found = existing.get(_slug(str(row["name"])))
        if found is None:
            plan["add"].append(row)
        elif row["households"] is not None and row["households"] != found.households:
            plan["update"].append({**row, "code": found.code, "before": found.households})
        else:
            plan["same"].append({**row, "code": found.code})
    return plan


async def apply_list(
    conn: AsyncConnection,
    actor: Person,
    commune: Unit,
    rows: list[dict[str, object]],
    now: datetime,
) -> dict[str, int]:
    """Apply a previewed list (computed again: the commune may have changed meanwhile)."""
    plan = await preview(conn, commune, rows)
    if plan["unknown"]:
        raise InvalidField(
            field="village", reason="no_such_village", value=plan["unknown"][0]["code"]
        )
    for row in plan["add"]:
        households = row["households"]
        admin_code = row.get("admin_code")
        await add(
            conn,
            actor,
            commune,
            str(row["name"]),
            households if isinstance(households, int) else None,
            now,
            admin_code=str(admin_code) if admin_code else None,
        )
    for row in plan["update"]:
        village = await units.get(conn, str(row["code"]))
        households = row["households"]
        if village is not None and isinstance(households, int):
            await set_households(conn, actor, village, households, now)
    return {key: len(value) for key, value in plan.items() if key != "unknown"}
