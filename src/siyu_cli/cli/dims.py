"""``siyu stores …`` and ``siyu staff …``: the store and staff dimensions (siyu_cli.dimensions)."""

from __future__ import annotations

from enum import Enum
import typer

from siyu_cli.cli.options import TABLE_CSV_JSON, format_option
from siyu_cli.output import Format

from siyu_cli.i18n import N_, _

from siyu_cli.cli.context import settings


class Kind(str, Enum):
    physical = "physical"
    online = "online"


stores_app = typer.Typer(help=N_("Canonical stores and their aliases (online shops kept apart); docs/dimensions.md."),
                         no_args_is_help=True)
staff_app = typer.Typer(help=N_("Staff (guides) matched across WeCom userid, name and alias; docs/dimensions.md."),
                        no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Register this module's commands on the root app."""
    app.add_typer(stores_app, name="stores")
    app.add_typer(staff_app, name="staff")


def _where(where: dict) -> str:
    return ", ".join(f"{k} {v:,}" for k, v in sorted(where.items()))


@stores_app.command("list")
def stores_list(ctx: typer.Context, fmt: Format = format_option(TABLE_CSV_JSON, help=N_("table, csv or json."))) -> None:
    """Canonical stores (siyu.toml [stores.ID] and `siyu stores add`) with their aliases."""
    from siyu_cli.dimensions import stores
    from siyu_cli.output import emit_json, emit_rows
    from siyu_cli.store import read

    rows = [s.to_dict() for s in read(settings(ctx), stores, settings(ctx))]
    if fmt is Format.json:
        emit_json(rows)
        return
    emit_rows(["store_id", "name", "kind", "aliases", "source"],
              [[r["store_id"], r["name"], r["kind"], "; ".join(r["aliases"]), r["source"]] for r in rows],
              fmt.value, title=_('stores'))


@stores_app.command("add")
def stores_add(
    ctx: typer.Context,
    store_id: str = typer.Argument(..., help=N_("Canonical id, e.g. SH02.")),
    name: str = typer.Option(..., "--name", help=N_("Canonical name, e.g. 山茶咖啡上海徐汇店.")),
    kind: Kind = typer.Option(Kind.physical, "--kind", help=N_("physical (a store) or online (a shop or channel).")),
) -> None:
    """Add (or rename) a canonical store in the workspace store."""
    from siyu_cli.dimensions import add_store
    from siyu_cli.output import info

    s = add_store(settings(ctx), store_id, name, kind.value)
    info(_('store {store_id}: {name} ({kind})').format(store_id=s.store_id, name=s.name, kind=s.kind))


@stores_app.command("alias")
def stores_alias(
    ctx: typer.Context,
    alias: str = typer.Argument(..., help=N_("The name an export uses, e.g. 徐汇店.")),
    canonical: str = typer.Argument(..., help=N_("The store it means: id, name or an existing alias.")),
) -> None:
    """Say that ALIAS means the store CANONICAL (reports, audiences and plans follow)."""
    from siyu_cli.dimensions import add_store_alias
    from siyu_cli.output import info

    s = add_store_alias(settings(ctx), alias, canonical)
    info(_('{alias} → {store_id} {name}').format(alias=alias, store_id=s.store_id, name=s.name))


def _emit_unmatched(s, fmt: Format, find, columns: list[str], title: str) -> None:
    """Print what ``find(con, settings)`` reports unmatched: ``columns`` then where the values were seen."""
    from siyu_cli.output import emit_json, emit_rows
    from siyu_cli.store import read

    rows = read(s, find, s)
    if fmt is Format.json:
        emit_json(rows)
        return
    emit_rows([*columns, "where"], [[*(r[c] for c in columns), _where(r["where"])] for r in rows], fmt.value,
              title=title.format(len=len(rows)))


@stores_app.command("unmatched")
def stores_unmatched(ctx: typer.Context,
                     fmt: Format = format_option(TABLE_CSV_JSON, help=N_("table, csv or json."))) -> None:
    """Store values in the data that no canonical store claims (see `siyu stores suggest`)."""
    from siyu_cli.dimensions import unmatched_stores

    _emit_unmatched(settings(ctx), fmt, unmatched_stores, ["value", "rows"], _('unmatched store values: {len}'))


@stores_app.command("suggest")
def stores_suggest(
    ctx: typer.Context,
    confirm: bool = typer.Option(False, "--confirm", help=N_("Ask, one by one, whether to apply each proposal.")),
    fmt: Format = format_option(TABLE_CSV_JSON, help=N_("table, csv or json.")),
) -> None:
    """Propose aliases where an unmatched value and a store's name overlap (suffix / containment).

    Nothing is applied unless you confirm each proposal (--confirm) or run `siyu stores alias`.
    """
    from siyu_cli.dimensions import add_store_alias, suggest_store_aliases
    from siyu_cli.output import emit_json, emit_rows, info
    from siyu_cli.store import read

    s = settings(ctx)
    props = read(s, suggest_store_aliases, s)
    if fmt is Format.json:
        emit_json(props)
        return
    emit_rows(
        ["alias", "rows", "store", "why"],
        [[p["alias"], p["rows"],
          "ambiguous: " + ", ".join(c["store_id"] for c in p["candidates"]) if p["ambiguous"]
          else f"{p['store_id']} {p['candidates'][0]['name']}",
          "; ".join(sorted({c["why"] for c in p["candidates"]}))] for p in props],
        fmt.value, title=_('suggested store aliases: {len} (nothing applied)').format(len=len(props)),
    )
    if fmt is not Format.table:
        return
    applied = 0
    for p in props:
        if p["ambiguous"]:
            continue
        cand = p["candidates"][0]
        if confirm and typer.confirm(f"{p['alias']} → {cand['store_id']} {cand['name']}?", default=False, err=True):
            add_store_alias(s, p["alias"], p["store_id"], source="suggest")
            applied += 1
    if confirm:
        info(_('applied {applied} alias(es)').format(applied=applied))
    elif any(not p["ambiguous"] for p in props):
        info(_('apply with `siyu stores suggest --confirm` or `siyu stores alias ALIAS STORE`'))


@staff_app.command("list")
def staff_list(ctx: typer.Context, fmt: Format = format_option(TABLE_CSV_JSON, help=N_("table, csv or json."))) -> None:
    """Staff (userid, name, store, aliases) and the names several userids share."""
    from siyu_cli.dimensions import staff_directory
    from siyu_cli.output import emit_json, emit_rows, warn
    from siyu_cli.store import read

    people, ambiguous = read(settings(ctx), staff_directory, settings(ctx))
    rows = [p.to_dict() for p in people]
    if fmt is Format.json:
        emit_json({"staff": rows, "ambiguous_names": ambiguous})
        return
    emit_rows(["userid", "name", "store", "aliases", "source"],
              [[r["userid"], r["name"], r["store"], "; ".join(r["aliases"]), r["source"]] for r in rows],
              fmt.value, title=_('staff'))
    for name, ids in sorted(ambiguous.items()):
        warn(_('name {name!r} is shared by {join}: rows naming it stay unmatched (`siyu staff alias`)').format(name=name, join=', '.join(ids)))


@staff_app.command("alias")
def staff_alias(
    ctx: typer.Context,
    alias: str = typer.Argument(..., help=N_("The name or id an export uses, e.g. 于慧.")),
    userid: str = typer.Argument(..., help=N_("The WeCom userid it means, e.g. yuhui.")),
) -> None:
    """Say that ALIAS means the staff member USERID."""
    from siyu_cli.dimensions import add_staff_alias
    from siyu_cli.output import info

    p = add_staff_alias(settings(ctx), alias, userid)
    info(f"{alias} → {p.userid} {p.name or ''}".rstrip())


@staff_app.command("unmatched")
def staff_unmatched(ctx: typer.Context,
                    fmt: Format = format_option(TABLE_CSV_JSON, help=N_("table, csv or json."))) -> None:
    """Guide values in the data that match no staff member, or a name several share."""
    from siyu_cli.dimensions import unmatched_staff

    _emit_unmatched(settings(ctx), fmt, unmatched_staff, ["value", "reason", "rows"], _('unmatched guide values: {len}'))
