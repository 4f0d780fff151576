"""``siyu plan check | week | sop``: playbooks checked, weeks rendered, SOP lists for a day."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any, List, Optional

import typer

from siyu_cli.cli.options import TABLE_CSV_JSON, format_option
from siyu_cli.output import Format

from siyu_cli.i18n import N_, _

from siyu_cli.cli.context import settings

plan_app = typer.Typer(
    name="plan",
    help=N_("Playbooks: check them, render a week for the target groups, list today's lifecycle SOP, enable or disable them."),
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    """Register this module's commands on the root app."""
    app.add_typer(plan_app, name="plan")


def parse_variables(pairs: list[str] | None, files: list[Path] | None) -> dict[str, Any]:
    """``--vars FILE`` (YAML/JSON mapping) first, then ``--var key=value`` (values are text)."""
    import yaml

    from siyu_cli.errors import UsageError

    values: dict[str, Any] = {}
    for f in files or []:
        try:
            data = yaml.safe_load(Path(f).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise UsageError(_('--vars {f}: no such file').format(f=f)) from None
        except yaml.YAMLError as exc:
            raise UsageError(_('--vars {f}: not valid YAML/JSON: {exc}').format(f=f, exc=exc)) from None
        if not isinstance(data, dict):
            raise UsageError(_('--vars {f}: must hold a mapping of name: value').format(f=f))
        values.update({str(k): v for k, v in data.items()})
    for pair in pairs or []:
        if "=" not in pair:
            raise UsageError(_('--var {pair!r}: write name=value').format(pair=pair))
        k, v = pair.split("=", 1)
        values[k.strip()] = v
    return values


def expand_playbooks(paths: list[Path]) -> list[Path]:
    """Files as given; a folder stands for the *.yaml / *.yml files in it."""
    out: list[Path] = []
    for p in paths:
        if Path(p).is_dir():
            out.extend(sorted(q for q in Path(p).iterdir() if q.suffix in (".yaml", ".yml") and q.is_file()))
        else:
            out.append(Path(p))
    return out


def _check_known(pb, values: dict[str, Any], source: str = "--var") -> None:
    from siyu_cli.errors import UsageError
    from siyu_cli.plan.model import closest

    for k in values:
        if k not in pb.variables:
            best = closest(k, pb.variables)
            hint = _(" (did you mean `{name}`?)").format(name=best) if best else ""
            raise UsageError(_('{source} {k}: {name} defines no variable `{k}`{hint}; its variables: {value}').format(source=source, k=k, name=pb.path.name, hint=hint, value=', '.join(pb.variables) or 'none'))


@plan_app.command("check")
def check(
    ctx: typer.Context,
    playbooks: List[Path] = typer.Argument(..., help=N_("Playbook files (YAML) or folders of them.")),
    var: Optional[List[str]] = typer.Option(None, "--var", help=N_("Override a variable: name=value (repeatable).")),
    vars_file: Optional[List[Path]] = typer.Option(None, "--vars", help=N_("YAML/JSON file of variable values.")),
    fmt: str = format_option((Format.text, Format.json), help=N_("text or json."), plain=True),
) -> None:
    """Report every problem in the playbooks as file:line:col: message (exit 65 on errors)."""
    from siyu_cli.errors import DataError
    from siyu_cli.output import clean_text, emit_json, info, write_text
    from siyu_cli.plan.schema import check_playbook

    tz = _default_timezone(ctx)
    values = parse_variables(var, vars_file)
    playbooks = expand_playbooks(playbooks)
    problems = []
    for p in playbooks:
        problems.extend(check_playbook(p, default_timezone=tz, variables=values))
    errors = sum(1 for p in problems if p.severity == "error")
    warnings = len(problems) - errors
    status = _live_status(ctx, playbooks)
    if fmt == "json":
        emit_json({"files": [str(p) for p in playbooks], "errors": errors, "warnings": warnings,
                   "problems": [p.to_dict() for p in problems],
                   "playbooks": [{"file": str(p), "name": n, "status": st} for p, (n, st) in zip(playbooks, status)]})
    else:
        if problems:
            write_text("".join(clean_text(p.format()) + "\n" for p in problems))  # quotes playbook text: no raw controls
        for p, (n, st) in zip(playbooks, status):
            info(_('{clean_text}: {clean_text2} · {st}').format(clean_text=clean_text(str(p)), clean_text2=clean_text(str(n)), st=st))
        info(_('{len} playbook(s): {errors} error(s), {warnings} warning(s); {sum} live').format(len=len(playbooks), errors=errors, warnings=warnings, sum=sum(1 for _n, st in status if st == 'live')))
    if errors:
        raise DataError(_('{errors} error(s) in {len} playbook(s)').format(errors=errors, len=len(playbooks)))


def _live_status(ctx: typer.Context, paths: list[Path]) -> list[tuple[str, str]]:
    """(name, live | inactive | no workspace) per playbook: is it enabled in this workspace's siyu.toml?"""
    from siyu_cli.errors import ConfigError
    from siyu_cli.plan.enabled import enabled_names, playbook_name

    try:
        live = set(enabled_names(settings(ctx)))
    except ConfigError:
        return [(playbook_name(p), "no workspace") for p in paths]
    return [(playbook_name(p), "live" if playbook_name(p) in live else "inactive") for p in paths]


@plan_app.command("list")
def list_cmd(ctx: typer.Context, fmt: str = format_option(TABLE_CSV_JSON, help=N_("table, csv or json."), plain=True)) -> None:
    """Every playbook in playbooks/ and whether it is live (enabled: its messages are sent) or inactive."""
    from siyu_cli.output import emit_json, emit_rows
    from siyu_cli.plan.enabled import playbook_statuses

    rows = [st.to_dict() for st in playbook_statuses(settings(ctx))]
    if fmt == "json":
        emit_json(rows)
        return
    emit_rows(["name", "status", "file"], [[r["name"], r["status"], r["file"] or "-"] for r in rows], fmt,
              title=_('playbooks (only live ones are sent; `siyu plan enable NAME`)'))


def _set_enabled(ctx: typer.Context, names: list[str], enable: bool) -> None:
    from siyu_cli.output import info
    from siyu_cli.plan.enabled import set_enabled

    s = settings(ctx)
    now = set_enabled(s, names, enable=enable)
    info(_('{value}: {join}; live now: {value2} ({config_file} [plan] enabled)').format(value='enabled' if enable else 'disabled', join=', '.join(names), value2=', '.join(now) or 'none', config_file=s.config_file))


@plan_app.command("enable")
def enable_cmd(ctx: typer.Context, names: List[str] = typer.Argument(..., help=N_("Playbook names (or files in playbooks/)."))) -> None:
    """Make playbooks live: `siyu push due` / `siyu run hourly` send their messages (checked first)."""
    _set_enabled(ctx, names, True)


@plan_app.command("disable")
def disable_cmd(ctx: typer.Context, names: List[str] = typer.Argument(..., help=N_("Playbook names (or files in playbooks/)."))) -> None:
    """Make playbooks inactive: nothing of theirs is sent any more (campaigns already sent stay)."""
    _set_enabled(ctx, names, False)


def _default_timezone(ctx: typer.Context) -> str:
    """The workspace zone when there is a workspace, else the --timezone flag or Asia/Shanghai."""
    from siyu_cli.cli.context import state
    from siyu_cli.errors import ConfigError

    try:
        return settings(ctx).timezone
    except ConfigError:
        return state(ctx).overrides.get("timezone") or "Asia/Shanghai"


@plan_app.command("week")
def week(
    ctx: typer.Context,
    playbook: Path = typer.Argument(..., help=N_("Playbook file (YAML).")),
    week: Optional[str] = typer.Option(None, "--week", help=N_("ISO week such as 2026-W48, or a date in it (default: this week).")),
    group: Optional[List[str]] = typer.Option(None, "--group", "-g", help=N_("Only this group (id or name; repeatable).")),
    var: Optional[List[str]] = typer.Option(None, "--var", help=N_("Override a variable: name=value (repeatable).")),
    vars_file: Optional[List[Path]] = typer.Option(None, "--vars", help=N_("YAML/JSON file of variable values.")),
    fmt: str = format_option((Format.table, Format.md, Format.csv, Format.json, Format.ics), help=N_("table, md, csv, json or ics."), plain=True),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help=N_("Write to this file instead of stdout.")),
) -> None:
    """Render the week for every target group: time (staggered, in the playbook's zone), group, kind, text."""
    from siyu_cli.errors import UsageError
    from siyu_cli.output import info, warn, write_text
    from siyu_cli.plan.export import print_week_table, week_text
    from siyu_cli.plan.render import render_week, resolve_targets, store_groups
    from siyu_cli.plan.schema import load_playbook

    if fmt == "table" and output is not None:
        raise UsageError(_('--output needs --format md, csv, json or ics'))
    from siyu_cli.errors import ConfigError

    try:
        s = settings(ctx)
    except ConfigError:
        s = None  # no workspace: a preview against the playbook's fallback groups
    values = parse_variables(var, vars_file)
    pb = load_playbook(playbook, default_timezone=s.timezone if s else _default_timezone(ctx), variables=values)
    _check_known(pb, values)
    if not pb.slots:
        raise UsageError(_('{playbook}: has no weekly plan (`week:`); for lifecycle steps use `siyu plan sop`').format(playbook=playbook))
    if s is None:
        info(_("no workspace here: previewing with the playbook's targets.fallback groups"))
    targets = resolve_targets(pb, store_groups(s) if s else [], only=group)
    if not targets:
        warn(_('no target group matched (check `targets:` against `siyu sql "select * from groups"`)'))
    plan = render_week(pb, targets, week, variables=values)
    for sk in _summarise_skips(plan.skipped):
        warn(sk)
    if fmt == "table":
        print_week_table(plan)
    else:
        text = week_text(plan, fmt)
        if output is not None:
            write_text(text, output)
            info(_('wrote {len} messages to {output}').format(len=len(plan.messages), output=output))
        else:
            write_text(text)


def _summarise_skips(skipped: list[dict]) -> list[str]:
    counts: dict[str, int] = {}
    for s in skipped:
        counts[s["reason"]] = counts.get(s["reason"], 0) + 1
    labels = {"quiet_hours": "staggered into quiet hours", "daily_limit": "over the daily limit",
              "skip_date": "on a skipped date"}
    return [f"{n} post(s) skipped: {labels.get(r, r)}" for r, n in sorted(counts.items())]


@plan_app.command("sop")
def sop(
    ctx: typer.Context,
    day: Optional[str] = typer.Option(None, "--date", "-d", help=N_("The day (YYYY-MM-DD; default: today in the workspace zone).")),
    playbook: Optional[List[Path]] = typer.Option(None, "--playbook", "-p", help=N_("Playbook(s) (default: every enabled playbook in playbooks/ with a `sop:`).")),
    var: Optional[List[str]] = typer.Option(None, "--var", help=N_("Override a variable: name=value (repeatable).")),
    vars_file: Optional[List[Path]] = typer.Option(None, "--vars", help=N_("YAML/JSON file of variable values.")),
    fmt: str = format_option((Format.table, Format.md, Format.csv, Format.json), help=N_("table, md, csv or json."), plain=True),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help=N_("Write to this file instead of stdout.")),
) -> None:
    """List the lifecycle steps due on a day: member, step, channel, rendered message."""

    from siyu_cli.errors import UsageError
    from siyu_cli.output import info, write_text
    from siyu_cli.plan.enabled import enabled_playbooks
    from siyu_cli.plan.export import exclusion_line, print_sop_table, sop_text
    from siyu_cli.plan.schema import load_playbook
    from siyu_cli.plan.sop import sop_due

    if fmt == "table" and output is not None:
        raise UsageError(_('--output needs --format md, csv or json'))
    s = settings(ctx)
    if day is None:
        from siyu_cli import clock

        the_day = clock.today(s.timezone)
    else:
        try:
            the_day = date.fromisoformat(day)
        except ValueError:
            raise UsageError(_('--date {day!r} is not a date like 2026-11-24').format(day=day)) from None
    values = parse_variables(var, vars_file)
    paths = list(playbook) if playbook else enabled_playbooks(s)
    books = [load_playbook(p, default_timezone=s.timezone, variables=values) for p in paths]
    books = [b for b in books if b.sop is not None]
    if not books:
        raise UsageError(_('no enabled playbook with a `sop:` section (`siyu plan list` shows them; `siyu plan enable NAME`, or pass --playbook FILE to preview one)'))
    report = sop_due(s, the_day, books, variables=values)
    if fmt == "table":
        print_sop_table(report)
        info(exclusion_line(report))
    else:
        text = sop_text(report, fmt)
        if output is not None:
            write_text(text, output)
            info(_('wrote {len} SOP messages to {output}; {exclusion_line}').format(len=len(report.items), output=output, exclusion_line=exclusion_line(report)))
        else:
            write_text(text)
            if fmt != "json":
                info(exclusion_line(report))
