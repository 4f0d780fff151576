"""Message templates: Jinja2 in a sandbox, strict about undefined names, with Chinese filters.

Playbooks are written by operators and shared between stores, so a template
must never reach Python internals, read a file or run without a budget of time
and size (:mod:`siyu_cli.templating`), and a typo in a
variable name must fail loudly, at ``plan check`` time if possible
(``StrictUndefined`` plus ``jinja2.meta``), never send "{{ prodcut }}" or an
empty string to 200 customers.
"""

from __future__ import annotations

from siyu_cli.i18n import _

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation, ROUND_HALF_UP
from functools import lru_cache
from typing import Any

from jinja2 import TemplateError as JinjaError
from jinja2 import UndefinedError
from jinja2.sandbox import SecurityError

from siyu_cli.errors import DataError
from siyu_cli.plan.model import (
    RESERVED_NAMES,
    TEXT_LIMIT_BYTES,
    WEEKDAY_CN,
    Playbook,
    Problem,
    TemplateSource,
    closest,
)
from siyu_cli.templating import BoundedSandbox, BudgetExceeded, render_bounded

#: Names each kind of template may use besides the playbook's variables.
SLOT_NAMES = frozenset({"group", "store", "week", "date", "slot", "playbook", "vars"})
STEP_NAMES = frozenset({"member", "store", "guide", "date", "step", "playbook", "vars", "day"})


# ----------------------------------------------------------------------------- filters


def cn_date(value: Any, weekday: bool = True) -> str:
    """``2026-11-24`` → ``11月24日 周二`` (the form on posters and in group chats)."""
    d = _as_date(value)
    text = f"{d.month}月{d.day}日"
    return f"{text} {WEEKDAY_CN[d.weekday()]}" if weekday else text


def cn_weekday(value: Any) -> str:
    return WEEKDAY_CN[_as_date(value).weekday()]


def cn_time(value: Any) -> str:
    if isinstance(value, (datetime, time)):
        return f"{value:%H:%M}"
    return str(value)


def money(value: Any, symbol: str = "¥") -> str:
    """``12.5`` → ``¥12.50``; thousands grouped (``¥1,299.00``)."""
    try:
        amount = Decimal(str(value).replace(",", "").replace("¥", "").strip())
    except InvalidOperation:
        raise ValueError(f"money filter: {value!r} is not an amount") from None
    amount = amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    sign = "-" if amount < 0 else ""
    return f"{sign}{symbol}{abs(amount):,.2f}"


def mask(value: Any) -> str:
    from siyu_cli.output import mask_phone

    return mask_phone(str(value)) or ""


def _as_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


# ----------------------------------------------------------------------------- context objects


@dataclass(frozen=True)
class WeekInfo:
    """The ISO week being rendered; prints as ``2026-W48``."""

    id: str
    year: int
    number: int
    start: date
    end: date

    @property
    def label(self) -> str:
        return f"{self.start.month}月{self.start.day}日–{self.end.month}月{self.end.day}日"

    def __str__(self) -> str:
        return self.id

    @classmethod
    def of(cls, year: int, number: int) -> "WeekInfo":
        start = date.fromisocalendar(year, number, 1)
        return cls(f"{year}-W{number:02d}", year, number, start, start + timedelta(days=6))


class Obj(dict):
    """A dict whose keys read as attributes in templates and that prints as its ``name``."""

    def __getattr__(self, item):  # pragma: no cover - Jinja uses getitem for dicts
        try:
            return self[item]
        except KeyError:
            raise AttributeError(item) from None

    def __str__(self) -> str:
        return str(self.get("name") or self.get("id") or "")


# ----------------------------------------------------------------------------- environment


@lru_cache(maxsize=1)
def environment():
    """The one sandboxed environment all playbook templates share."""
    from jinja2 import StrictUndefined

    env = BoundedSandbox(
        undefined=StrictUndefined,
        autoescape=False,
        keep_trailing_newline=False,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.add_filters({"cn_date": cn_date, "cn_weekday": cn_weekday, "cn_time": cn_time, "money": money,
                     "mask": mask})
    return env


class TemplateError(DataError):
    """A template failed to compile or render; ``where`` points into the playbook (exit 65)."""

    def __init__(self, where: tuple[str, int, int], message: str, hint: str | None = None):
        super().__init__(f"{where[0]}:{where[1]}:{where[2]}: {message}", hint=hint)
        self.where = where
        self.detail = message

    def about(self, what: str) -> "TemplateError":
        """The same error, saying which group/member it happened for."""
        return TemplateError(self.where, f"{self.detail} ({what})", self.hint)


def compile_template(src: TemplateSource):
    """Compile (cached per source text) or raise TemplateError at the template's own line."""
    from jinja2 import TemplateSyntaxError

    try:
        return _compile(src.text)
    except TemplateSyntaxError as exc:
        raise TemplateError(src.where(exc.lineno), _("template syntax error: {detail}").format(detail=exc.message),
                            _("check {{ }} and {% %} pairs; literal braces need {{ '{{' }}")) from None


@lru_cache(maxsize=4096)
def _compile(text: str):
    return environment().from_string(text)


def render(src: TemplateSource, context: dict[str, Any]) -> str:
    """Render in the sandbox; any failure becomes TemplateError naming the playbook position."""
    template = compile_template(src)
    try:
        return render_bounded(template, context).strip()
    except BudgetExceeded as exc:
        raise TemplateError(src.where(_error_line(exc)), _("the template sandbox stopped it: {detail}").format(detail=exc),
                            _("templates render one message: keep loops short and values small "
                              "(budgets: [templates] in siyu.toml)")) from None
    except SecurityError as exc:
        raise TemplateError(src.where(_error_line(exc)), _("refused by the template sandbox: {detail}").format(detail=exc),
                            _("templates may only use variables, filters and plain data")) from None
    except UndefinedError as exc:
        raise TemplateError(src.where(_error_line(exc)), _("undefined in template: {detail}").format(detail=exc.message),
                            _("define it under `variables:` or pass --var name=value")) from None
    except (JinjaError, ValueError, TypeError, ArithmeticError) as exc:
        raise TemplateError(src.where(_error_line(exc)), _("template failed: {detail}").format(detail=exc)) from None


def _error_line(exc: BaseException) -> int | None:
    tb = exc.__traceback__
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def undeclared(src: TemplateSource) -> set[str]:
    from jinja2 import meta

    env = environment()
    return set(meta.find_undeclared_variables(env.parse(src.text))) - set(env.globals)


def _first_line_of(name: str, text: str) -> int:
    pattern = re.compile(rf"(?<![\w.]){re.escape(name)}(?!\w)")
    for n, line in enumerate(text.splitlines(), start=1):
        if pattern.search(line):
            return n
    return 1


# ----------------------------------------------------------------------------- contexts


def slot_context(pb: Playbook, slot, group: Obj, week: WeekInfo, day: date, variables: dict[str, Any]) -> dict:
    ctx = dict(variables)
    ctx.update(
        group=group,
        store=group.get("store") or "",
        week=week,
        date=day,
        slot=Obj(id=slot.id, name=slot.kind, kind=slot.kind, kind_id=slot.kind_id, time=f"{slot.at:%H:%M}",
                 weekday=WEEKDAY_CN[slot.weekday]),
        playbook=Obj(name=pb.name, title=pb.title),
        vars=Obj(variables),
    )
    return ctx


def step_context(pb: Playbook, step, member: Obj, day: date, variables: dict[str, Any]) -> dict:
    ctx = dict(variables)
    ctx.update(
        member=member,
        store=member.get("store") or "",
        guide=member.get("guide_name") or "",
        date=day,
        day=step.day,
        step=Obj(id=step.id, name=step.kind, kind=step.kind, kind_id=step.kind_id, day=step.day),
        playbook=Obj(name=pb.name, title=pb.title),
        vars=Obj(variables),
    )
    return ctx


def sample_group() -> Obj:
    return Obj(id="wrSAMPLE0001", name="示例门店1群", store="示例门店", city="上海", owner="guide01",
               tags=("示例", "标签2", "标签3"), member_count=200)


def sample_member() -> Obj:
    return Obj(id="M0001", name="张三", nickname="小张", display_name="小张", store="示例门店",
               guide_userid="guide01", guide_name="李导购", level="银卡", join_date=date(2026, 1, 1),
               days=0, points=0, segment="重要保持客户", segment_id="E")


# ----------------------------------------------------------------------------- check


def check_templates(pb: Playbook, variables: dict[str, Any] | None = None) -> list[Problem]:
    """Syntax errors, undefined names and sandbox violations in every template of a playbook.

    Undefined names are found statically (jinja2.meta); then each template is
    rendered once against a sample group/member so attribute typos
    (``group.nmae``), failing filters and sandbox escapes surface here too.
    """
    problems: list[Problem] = []
    values = pb.with_variables(variables)
    defined = set(values)
    seen: set[tuple[str, int, int, str]] = set()
    week = WeekInfo.of(2026, 48)

    def items():
        for slot in pb.slots:
            yield "slot", slot, slot.template
            for att in slot.attachments:
                for _k, src in att.templates:
                    yield "slot", slot, src
        if pb.sop:
            for step in pb.sop.steps:
                yield "step", step, step.template
                for att in step.attachments:
                    for _k, src in att.templates:
                        yield "step", step, src

    for kind, owner, src in items():
        key = (str(src.file), src.line, src.col, src.text)
        if key in seen:
            continue  # a slot on several weekdays shares one template
        seen.add(key)
        try:
            compile_template(src)
        except TemplateError as exc:
            problems.append(Problem(*exc.where, exc.detail, exc.hint))
            continue
        if _undefined_problems(kind, src, defined, problems):
            continue
        if kind == "slot":
            ctx = slot_context(pb, owner, sample_group(), week, week.start + timedelta(days=owner.weekday), values)
        else:
            ctx = step_context(pb, owner, sample_member(), date(2026, 1, 1), values)
        try:
            text = render(src, ctx)
        except TemplateError as exc:
            problems.append(Problem(*exc.where, exc.detail, exc.hint))
            continue
        if src is getattr(owner, "template", None) and len(text.encode("utf-8")) > TEXT_LIMIT_BYTES:
            problems.append(Problem(*src.where(1), f"message is {len(text.encode('utf-8'))} bytes; WeCom allows "
                                    f"{TEXT_LIMIT_BYTES}", "shorten the text (a Chinese character is 3 bytes)"))
        if src is getattr(owner, "template", None) and not text:
            problems.append(Problem(*src.where(1), "template renders to an empty message", severity="warning"))
    for kind, src in pb.loose_templates:
        try:
            compile_template(src)
        except TemplateError:
            continue  # already reported by the schema check
        _undefined_problems(kind, src, defined, problems)
    return problems


def _undefined_problems(kind: str, src: TemplateSource, defined: set[str], problems: list[Problem]) -> bool:
    """Report names the template uses that nobody defines; True if there were any."""
    allowed = (SLOT_NAMES if kind == "slot" else STEP_NAMES) | defined
    missing = sorted(undeclared(src) - allowed)
    for name in missing:
        best = closest(name, sorted(allowed - {"vars"}))
        if name in RESERVED_NAMES:
            hint = f"`{name}` is not available in {'weekly slots' if kind == 'slot' else 'SOP steps'}"
        elif best:
            hint = f"did you mean `{best}`? or define `{name}` under `variables:`"
        else:
            hint = f"define `{name}` under `variables:` or pass --var {name}=..."
        where = src.where(_first_line_of(name, src.text))
        problems.append(Problem(*where, f"template uses `{name}`, which nobody defines", hint))
    return bool(missing)
