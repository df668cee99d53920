"""/thon: a commune's villages, kept by the commune (no public list of thôn / tổ dân phố exists).

    /thon                         the villages, numbered, with their household figures
    /thon them TÊN [; SỐ HỘ]      add a village ("Tổ dân phố 3", "An Ba" → "Thôn An Ba")
    /thon doiten SỐ TÊN MỚI       rename village number SỐ (or give its code)
    /thon soho SỐ SỐ_HỘ           set its households (the denominator of household targets)
    /thon ngung SỐ                retire it from today (its reports stay where they were filed)
    /thon nhap                    paste a list (one "Tên; số hộ" a line, e.g. copied from a
                                  spreadsheet) or send a .csv / .xlsx file (columns name,
                                  households, optionally code, admin code): checked row by row,
                                  previewed, then confirmed — one path for both

An admin names the commune first: /thon MÃ_XÃ them … . The rules are in
handlers/services/villages.py; every change is audited.
"""

from __future__ import annotations

from core import files
from core.text import fold
from db.models import Unit
from handlers.context import Context
from handlers.dispatcher import Flow
from handlers.menu import menu_choices
from handlers.services import places, villages

_VERBS = ("them", "doiten", "soho", "ngung", "nhap")
FLOW = "villages"
MAX_PREVIEW = 30


def _verb(word: str) -> str:
    return fold(word).replace(" ", "")


async def manage(ctx: Context, args: str = "") -> None:
    """/thon [MÃ_XÃ] [them|doiten|soho|ngung …]."""
    assert ctx.person is not None
    words = args.split()
    wanted = None
    if words and _verb(words[0]) not in _VERBS:
        wanted, words = words[0], words[1:]
    commune = await villages.commune_of(ctx.conn, ctx.person, wanted)
    if not words:
        await _show(ctx, commune)
        return
    verb, rest = _verb(words[0]), " ".join(words[1:])
    if verb == "nhap":
        ctx.goto(FLOW, "paste", commune=commune.code)
        ctx.say("villages.paste_how", commune=commune.name)
        return
    if verb == "them":
        name, _, figure = rest.partition(";")
        households = villages.households_of(figure) if figure.strip() else None
        added = await villages.add(ctx.conn, ctx.person, commune, name, households, ctx.now)
        ctx.say("villages.added", name=added.name, commune=commune.name, code=added.code)
        return
    ref, _, value = rest.strip().partition(" ")
    if not ref:
        ctx.say("villages.usage")
        return
    village = await villages.find(ctx.conn, commune, ref)
    if verb == "doiten":
        renamed = await villages.rename(ctx.conn, ctx.person, commune, village, value, ctx.now)
        ctx.say("villages.renamed", old=village.name, name=renamed.name)
    elif verb == "soho":
        households = villages.households_of(value)
        await villages.set_households(ctx.conn, ctx.person, village, households, ctx.now)
        ctx.say("villages.households_set", name=village.name, n=households)
    else:
        bound = await villages.retire(ctx.conn, ctx.person, village, ctx.now)
        ctx.say("villages.retired", name=village.name, n=bound)


async def _show(ctx: Context, commune: Unit) -> None:
    found = await villages.listing(ctx.conn, commune)
    lines = [ctx.text("villages.title", commune=commune.name, n=len(found))]
    for number, village in enumerate(found, start=1):
        lines.append(
            ctx.text(
                "villages.line",
                number=number,
                name=village.name,
                households=village.households,
                code=village.code,
            )
        )
    lines.append(ctx.text("villages.usage"))
    ctx.say_text("\n".join(lines))


async def _from_file(ctx: Context) -> tuple[list[dict[str, object]], list[tuple[int, str]]] | None:
    """The rows of the file sent (None, with a message said, when it cannot be read)."""
    attachment = ctx.event.attachment
    assert attachment is not None
    kind = files.kind_of(attachment.file_name) if attachment.kind == "document" else None
    if kind is None:
        ctx.say("villages.file_unsupported")
        return None
    if attachment.fetch is None:
        raise files.FileUnavailable()
    # Downloaded within the update's transaction: capped (1 MB) and timed out by the channel,
    # and only here, where a file is asked for.
    content = await attachment.fetch(files.MAX_BYTES)
    return villages.parse_file(kind, content)


async def on_paste(ctx: Context, text: str) -> None:
    """The pasted list or the file sent: every faulty row named (nothing kept), else a
    preview to confirm."""
    commune = await places.get(ctx.conn, str(ctx.data.get("commune", "")))
    assert commune is not None
    sent_file = ctx.event.attachment is not None
    if sent_file:
        parsed = await _from_file(ctx)
        if parsed is None:
            return
        rows, errors = parsed
    else:
        rows, errors = villages.parse_list(text)
    if not errors and rows:
        plan = await villages.preview(ctx.conn, commune, rows)
        errors = [(int(str(row["line"])), "unknown_code") for row in plan["unknown"]]
    if errors:
        key = "villages.file_errors" if sent_file else "villages.paste_errors"
        lines = [ctx.text(key, n=len(errors))]
        lines += [ctx.text("villages.paste_error", line=n, reason=r) for n, r in errors[:20]]
        ctx.say_text("\n".join(lines))
        return
    if not rows:
        ctx.say("villages.file_empty" if sent_file else "villages.paste_how", commune=commune.name)
        return
    ctx.goto(FLOW, "confirm", commune=commune.code, rows=rows)
    ctx.say(
        "villages.paste_preview",
        [
            [
                ctx.choice("apply", ctx.text("villages.apply_button")),
                ctx.choice("keep", ctx.label("keep")),
            ]
        ],
        commune=commune.name,
        add=plan["add"][:MAX_PREVIEW],
        update=plan["update"][:MAX_PREVIEW],
        n_add=len(plan["add"]),
        n_update=len(plan["update"]),
        n_same=len(plan["same"]),
    )


async def on_confirm(ctx: Context, value: str) -> None:
    assert ctx.person is not None
    code, rows = str(ctx.data.get("commune", "")), ctx.data.get("rows") or []
    ctx.end()
    if value != "apply" or not isinstance(rows, list):
        ctx.say("flow.cancelled", menu_choices(ctx))
        return
    commune = await villages.commune_of(ctx.conn, ctx.person, code)
    done = await villages.apply_list(ctx.conn, ctx.person, commune, rows, ctx.now)
    ctx.say("villages.applied", commune=commune.name, n_add=done["add"], n_update=done["update"])


flow = Flow(FLOW, on_choice={"confirm": on_confirm}, on_text={"paste": on_paste})
