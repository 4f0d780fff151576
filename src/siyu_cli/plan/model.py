"""The playbook model: what a parsed playbook holds, its vocabulary and value parsers.

Kept apart from the parser (``plan/parser.py``) and the templates (``plan/templates.py``) so that
both can import the types without importing each other.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from datetime import date, time
from pathlib import Path
from typing import Any

#: Known slot kinds: Chinese label -> stable English id (free text kinds are allowed too).
KNOWN_KINDS: dict[str, str] = {
    "早安": "morning",
    "干货": "tips",
    "新品": "new_product",
    "秒杀": "flash_sale",
    "抽奖": "lucky_draw",
    "会员日": "member_day",
    "晒单": "showcase",
    "晚安": "good_night",
    "欢迎": "welcome",
    "关怀": "care",
    "复购": "repurchase",
    "召回": "win_back",
    "预告": "preview",
    "接龙": "group_buy",
}
KIND_IDS = {v: k for k, v in KNOWN_KINDS.items()}

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WEEKDAY_CN = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")
_WEEKDAY_ALIASES: dict[str, tuple[int, ...]] = {}
for _i, (_en, _cn) in enumerate(zip(WEEKDAYS, WEEKDAY_CN)):
    for _alias in (
        _en,
        ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")[_i],
        _cn,
        "星期" + _cn[1],
        str(_i + 1),
    ):
        _WEEKDAY_ALIASES[_alias] = (_i,)
_WEEKDAY_ALIASES.update(
    {
        "周天": (6,),
        "星期天": (6,),
        "daily": tuple(range(7)),
        "每天": tuple(range(7)),
        "weekdays": tuple(range(5)),
        "工作日": tuple(range(5)),
        "weekend": (5, 6),
        "周末": (5, 6),
    }
)

CHANNELS = ("group", "customer", "app", "robot")
SLOT_CHANNELS = ("group", "app", "robot")
SOP_CHANNELS = ("customer", "app")
SOP_ANCHORS = ("member_join", "group_join", "segment_entered", "contact_lost", "contact_removed", "contact_deleted",
               "contact_added", "group_left",
               "clv_alive_below")
#: Segment schemes a ``segment_entered`` SOP can follow (custom schemes: ``custom:<name>``).
SEGMENT_SCHEMES = ("rfm8", "rfm11")
_CUSTOM_SCHEME_RE = re.compile(r"^custom:\S+$")
CONDITIONS: dict[str, str] = {
    "not_purchased_since_join": "not_purchased_since_join",
    "加入后未购买": "not_purchased_since_join",
    "purchased_since_join": "purchased_since_join",
    "加入后已购买": "purchased_since_join",
    "never_purchased": "never_purchased",
    "从未购买": "never_purchased",
    "always": "always",
}

TOP_KEYS = ("version", "name", "title", "description", "timezone", "language", "targets", "variables",
            "rules", "week", "sop")
TARGET_KEYS = ("all", "tags", "stores", "groups", "fallback")
FALLBACK_KEYS = ("id", "name", "store", "city", "owner", "tags", "member_count")
RULE_KEYS = ("daily_limit", "quiet_hours", "stagger_minutes", "skip_weeks", "skip_dates", "channel")
SLOT_KEYS = ("id", "weekday", "time", "kind", "channel", "template", "template_file", "attachments", "note")
SOP_KEYS = ("anchor", "segments", "scheme", "p_alive_below", "channel", "time", "audience", "steps")
AUDIENCE_KEYS = ("all", "stores", "tags")
STEP_KEYS = ("id", "day", "time", "kind", "channel", "condition", "template", "template_file", "attachments", "note")
ATTACHMENT_KINDS = ("image", "link", "miniprogram")
LINK_KEYS = ("title", "url", "desc", "picurl")
MINIPROGRAM_KEYS = ("title", "appid", "page", "pic")
MAX_ATTACHMENTS = 9
#: WeCom byte limits on attachment fields (WECOM.md).
LINK_LIMITS = {"title": 128, "desc": 512, "url": 2048}
MINIPROGRAM_LIMITS = {"title": 64}
TEXT_LIMIT_BYTES = 4000
#: Largest template_file (a template renders one message of at most 4000 bytes).
TEMPLATE_FILE_BYTES = 256 * 1024

_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_TIME_RE = re.compile(r"^(\d{1,2}):(\d{2})$")
_WEEK_RE = re.compile(r"^(\d{4})-?W(\d{2})$")


# ----------------------------------------------------------------------------- problems


@dataclass(frozen=True, order=True)
class Problem:
    """One finding of ``siyu plan check``."""

    file: str
    line: int
    col: int
    message: str
    hint: str | None = None
    severity: str = "error"  # error | warning

    def format(self) -> str:
        text = f"{self.file}:{self.line}:{self.col}: {self.severity}: {self.message}"
        if self.hint:
            text += f"\n    hint: {self.hint}"
        return text

    def to_dict(self) -> dict:
        return {
            "file": self.file,
            "line": self.line,
            "col": self.col,
            "severity": self.severity,
            "message": self.message,
            "hint": self.hint,
        }


def closest(word: str, choices) -> str | None:
    found = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    return found[0] if found else None


#: Names every template can use (see templates.py); variables may not shadow them.
RESERVED_NAMES = frozenset(
    {"group", "store", "week", "date", "slot", "step", "member", "playbook", "vars", "day", "guide"}
)


# ----------------------------------------------------------------------------- model


@dataclass(frozen=True)
class TemplateSource:
    """A template's text and where it sits, so errors point at the template's own line."""

    text: str
    file: Path
    line: int  # 1-based file line of the template's first line
    col: int
    block: bool  # a YAML block scalar (| or >) or a separate file: lines map one to one
    label: str  # e.g. "week[2].template"

    def where(self, template_line: int | None) -> tuple[str, int, int]:
        n = max(1, template_line or 1)
        if self.block:
            return str(self.file), self.line + n - 1, self.col
        return str(self.file), self.line, self.col


@dataclass(frozen=True)
class Attachment:
    kind: str  # image | link | miniprogram
    path: Path | None = None  # image file / mini-program cover
    fields: tuple[tuple[str, Any], ...] = ()  # link/miniprogram fields (strings may be templates)
    templates: tuple[tuple[str, TemplateSource], ...] = ()


@dataclass(frozen=True, kw_only=True)
class Scheduled:
    """What a weekly slot and an SOP step share: a message of a kind, on a channel, at a time of day."""

    id: str
    index: int  # position in `week:` / `steps:`
    at: time
    kind: str
    kind_id: str
    channel: str
    template: TemplateSource
    attachments: tuple[Attachment, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Slot(Scheduled):
    # id: the occurrence id for this weekday, e.g. "mon-0800" (unique within the playbook)
    slot_id: str  # the slot as written (its id, or the occurrence id)
    weekday: int  # 0 = Monday


@dataclass(frozen=True, kw_only=True)
class SopStep(Scheduled):
    day: int
    condition: str


@dataclass(frozen=True)
class Target:
    """A group a weekly plan posts to: from the store, or from the playbook's ``targets.fallback``."""

    group_id: str
    name: str
    store: str | None = None
    city: str | None = None
    owner: str | None = None
    tags: tuple[str, ...] = ()
    member_count: int | None = None
    store_names: tuple[str, ...] = ()  # every name of the group's canonical store (siyu_cli.dimensions)


@dataclass(frozen=True)
class Targets:
    all: bool = False
    tags: tuple[str, ...] = ()
    stores: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    fallback: tuple[Target, ...] = ()


@dataclass(frozen=True)
class Rules:
    daily_limit: int | None = None
    quiet_start: time | None = None
    quiet_end: time | None = None
    stagger_minutes: int = 0
    skip_weeks: tuple[str, ...] = ()
    skip_dates: tuple[date, ...] = ()
    channel: str = "group"

    def in_quiet_hours(self, t: time) -> bool:
        if self.quiet_start is None or self.quiet_end is None:
            return False
        s, e = self.quiet_start, self.quiet_end
        if s <= e:
            return s <= t < e
        return t >= s or t < e  # wraps midnight, e.g. 22:00-08:00


@dataclass(frozen=True)
class Sop:
    anchor: str = "member_join"
    channel: str = "customer"
    stores: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    steps: tuple[SopStep, ...] = ()
    #: ``anchor: segment_entered`` only: the scheme's segment ids (canonical ids for rfm8/rfm11,
    #: as written for custom schemes) and the scheme as stored in segment_snapshots.scheme.
    segments: tuple[str, ...] = ()
    scheme: str = "rfm8"
    #: ``audience: all``: every member is meant (never implied by a missing audience)
    all: bool = False
    #: ``anchor: clv_alive_below`` only: day 0 = the `siyu clv` fit in which P(alive) fell below this.
    p_alive_below: float | None = None


@dataclass
class Playbook:
    path: Path
    name: str
    title: str
    description: str
    timezone: str
    language: str
    targets: Targets
    variables: dict[str, Any]
    rules: Rules
    slots: tuple[Slot, ...]
    sop: Sop | None
    #: templates of slots/steps that failed validation: still checked for undefined names
    loose_templates: tuple = ()

    @property
    def folder(self) -> Path:
        return self.path.parent

    def with_variables(self, overrides: dict[str, Any] | None) -> dict[str, Any]:
        merged = dict(self.variables)
        merged.update(overrides or {})
        return merged


# ----------------------------------------------------------------------------- parsing helpers


def parse_time(value: Any) -> time | None:
    if isinstance(value, str):
        m = _TIME_RE.match(value.strip())
        if m:
            h, mi = int(m.group(1)), int(m.group(2))
            if 0 <= h <= 23 and 0 <= mi <= 59:
                return time(h, mi)
    return None


def parse_weekdays(value: Any) -> tuple[int, ...] | None:
    items = value if isinstance(value, list) else [value]
    out: list[int] = []
    for item in items:
        if isinstance(item, bool):
            return None
        found = _WEEKDAY_ALIASES.get(str(item).strip().lower())
        if found is None:
            return None
        out.extend(d for d in found if d not in out)
    return tuple(sorted(out)) if out else None


def parse_week(value: str) -> tuple[int, int] | None:
    m = _WEEK_RE.match(str(value).strip())
    if not m:
        return None
    year, week = int(m.group(1)), int(m.group(2))
    try:
        date.fromisocalendar(year, week, 1)
    except ValueError:
        return None
    return year, week


def kind_id(kind: str) -> str:
    if kind in KNOWN_KINDS:
        return KNOWN_KINDS[kind]
    if kind in KIND_IDS:
        return kind
    return "custom"
