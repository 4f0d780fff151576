"""Playbook YAML: loading with line/column positions, validation that reports every problem.

An operator edits playbooks by hand, so ``siyu plan check`` must point at the
exact spot of each mistake (``file:line:col: error: message`` plus a hint) and
report all of them at once. We therefore compose the YAML into nodes (which
carry marks), convert them ourselves while recording the position of every
key and value, and validate against a small hand-written schema.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from datetime import date, time
from pathlib import Path
from typing import Any
from siyu_cli.i18n import _

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
SOP_ANCHORS = ("member_join", "group_join", "segment_entered", "contact_lost", "contact_added", "group_left",
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


def _did_you_mean(word: str, choices) -> str:
    best = closest(word, choices)
    if best:
        return f"did you mean `{best}`? valid keys: {', '.join(choices)}"
    return f"valid keys: {', '.join(choices)}"


# ----------------------------------------------------------------------------- YAML with positions


@dataclass
class Located:
    """A parsed YAML file: plain data plus the position of every value and key."""

    file: Path
    text: str
    data: Any
    pos: dict[tuple, tuple[int, int]] = field(default_factory=dict)
    keypos: dict[tuple, tuple[int, int]] = field(default_factory=dict)
    nodes: dict[tuple, Any] = field(default_factory=dict)

    def at(self, path: tuple, key: bool = False) -> tuple[int, int]:
        """Position of the value at ``path`` (or of its key), falling back to the nearest parent."""
        table = self.keypos if key else self.pos
        p = tuple(path)
        while p:
            if p in table:
                return table[p]
            if not key and p in self.pos:
                return self.pos[p]
            p = p[:-1]
        return self.pos.get((), (1, 1))


def _scalar_value(node, loader) -> Any:
    import yaml

    # Times such as 10:30 are base-60 integers in YAML 1.1; keep what the operator wrote.
    if node.tag in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float") and ":" in node.value:
        return node.value
    try:
        return loader.construct_object(node)
    except yaml.YAMLError:
        return node.value


def load_located(path: Path, problems: list[Problem]) -> Located | None:
    """Read and compose ``path``; syntax errors and duplicate keys become problems."""
    import yaml

    fname = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        problems.append(Problem(fname, 1, 1, "no such file"))
        return None
    except UnicodeDecodeError:
        problems.append(Problem(fname, 1, 1, "not UTF-8 text", "save the playbook as UTF-8"))
        return None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        msg = f"YAML syntax error: {exc.problem or exc.context}"
        problems.append(Problem(fname, line, col, msg, "check indentation, colons and quotes on this line or the one above"))
        return None
    except yaml.YAMLError as exc:
        problems.append(Problem(fname, 1, 1, f"YAML error: {exc}"))
        return None
    doc = Located(file=Path(path), text=text, data=None)
    if root is None:
        problems.append(Problem(fname, 1, 1, "the playbook is empty", "start with `version: 1` and `name: ...`"))
        return None
    loader = yaml.SafeLoader("")

    def convert(node, p: tuple):
        doc.pos[p] = (node.start_mark.line + 1, node.start_mark.column + 1)
        doc.nodes[p] = node
        if isinstance(node, yaml.MappingNode):
            out: dict[str, Any] = {}
            for knode, vnode in node.value:
                if not isinstance(knode, yaml.ScalarNode):
                    problems.append(Problem(fname, knode.start_mark.line + 1, knode.start_mark.column + 1,
                                            "a key must be a plain word"))
                    continue
                key = str(knode.value)
                kpos = (knode.start_mark.line + 1, knode.start_mark.column + 1)
                if key in out:
                    first = doc.keypos[p + (key,)]
                    problems.append(Problem(fname, *kpos, f"duplicate key `{key}` (first at line {first[0]})",
                                            "remove one of them; YAML keeps only the last"))
                doc.keypos[p + (key,)] = kpos
                out[key] = convert(vnode, p + (key,))
            return out
        if isinstance(node, yaml.SequenceNode):
            return [convert(item, p + (i,)) for i, item in enumerate(node.value)]
        return _scalar_value(node, loader)

    doc.data = convert(root, ())
    return doc


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


@dataclass(frozen=True)
class Slot:
    id: str  # occurrence id for this weekday, e.g. "mon-0800" (unique within the playbook)
    slot_id: str  # the slot as written (its id, or the occurrence id)
    index: int  # position in `week:`
    weekday: int  # 0 = Monday
    at: time
    kind: str
    kind_id: str
    channel: str
    template: TemplateSource
    attachments: tuple[Attachment, ...] = ()


@dataclass(frozen=True)
class SopStep:
    id: str
    index: int
    day: int
    at: time
    kind: str
    kind_id: str
    channel: str
    condition: str
    template: TemplateSource
    attachments: tuple[Attachment, ...] = ()


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


# ----------------------------------------------------------------------------- validation


class _Checker:
    def __init__(self, doc: Located, problems: list[Problem]):
        self.doc = doc
        self.problems = problems
        self.file = str(doc.file)
        self.loose: list[tuple[str, TemplateSource]] = []  # templates of slots/steps too broken to build

    def err(self, path: tuple, message: str, hint: str | None = None, *, key: bool = False, severity: str = "error"):
        line, col = self.doc.at(path, key=key)
        self.problems.append(Problem(self.file, line, col, message, hint, severity))

    def mapping(self, path: tuple, value: Any, allowed: tuple[str, ...], what: str) -> dict:
        if not isinstance(value, dict):
            self.err(path, _('{what} must be a mapping (key: value lines), not {typename}').format(what=what, typename=_typename(value)))
            return {}
        for key in value:
            if key not in allowed:
                best = closest(key, allowed)
                hint = _did_you_mean(key, allowed)
                msg = f"unknown key `{key}` in {what}" + (f" (did you mean `{best}`?)" if best else "")
                self.err(path + (key,), msg, hint, key=True)
        return value

    def string_list(self, path: tuple, value: Any, what: str) -> tuple[str, ...]:
        if value is None:
            return ()
        if isinstance(value, (str, int)) and not isinstance(value, bool):
            return (str(value),)
        if not isinstance(value, list) or not all(isinstance(v, (str, int)) and not isinstance(v, bool) for v in value):
            self.err(path, _('{what} must be a list of names').format(what=what), _('e.g. {value}: [名称1, 名称2]').format(value=what.split('.')[-1]))
            return ()
        return tuple(str(v) for v in value)

    def text(self, path: tuple, value: Any, what: str, *, required: bool = False) -> str | None:
        if value is None:
            if required:
                self.err(path, _('missing `{what}`').format(what=what))
            return None
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            self.err(path, _('`{what}` must be text, not {typename}').format(what=what, typename=_typename(value)))
            return None
        return str(value)

    def template(self, path: tuple, item: dict, what: str) -> TemplateSource | None:
        """The slot's/step's template source; syntax errors are reported even when the rest is broken."""
        src = self._template(path, item, what)
        if src is not None:
            from siyu_cli.plan.templates import TemplateError, compile_template

            try:
                compile_template(src)
            except TemplateError as exc:
                self.problems.append(Problem(*exc.where, exc.detail, exc.hint))
        return src

    def _template(self, path: tuple, item: dict, what: str) -> TemplateSource | None:
        inline, tfile = item.get("template"), item.get("template_file")
        if inline is not None and tfile is not None:
            self.err(path + ("template_file",), _('{what} has both `template` and `template_file`').format(what=what),
                     _('keep one: inline text or a file next to the playbook'), key=True)
            return None
        if inline is None and tfile is None:
            self.err(path, _('{what} has no `template` (or `template_file`)').format(what=what),
                     _('add `template: |` followed by the message text'))
            return None
        if inline is not None:
            if not isinstance(inline, (str, int, float)) or isinstance(inline, bool):
                self.err(path + ("template",), _('{what}.template must be text').format(what=what))
                return None
            node = self.doc.nodes[path + ("template",)]
            block = getattr(node, "style", None) in ("|", ">")
            line, col = self.doc.pos[path + ("template",)]
            if block:
                first = node.start_mark.line + 1  # 0-based index of the first content line
                lines = self.doc.text.splitlines()
                body = lines[first] if first < len(lines) else ""
                return TemplateSource(str(inline), self.doc.file, first + 1, len(body) - len(body.lstrip()) + 1,
                                      True, ".".join(map(str, path + ("template",))))
            if getattr(node, "style", None) in ('"', "'"):
                col += 1
            return TemplateSource(str(inline), self.doc.file, line, col, False,
                                  ".".join(map(str, path + ("template",))))
        if not isinstance(tfile, str) or not tfile.strip():
            self.err(path + ("template_file",), _('{what}.template_file must be a file name').format(what=what))
            return None
        full = self.confined(path + ("template_file",), tfile, "template file")
        if full is None:
            return None
        if full.stat().st_size > TEMPLATE_FILE_BYTES:
            self.err(path + ("template_file",), _('template file {tfile} is larger than {value} KiB').format(tfile=tfile, value=TEMPLATE_FILE_BYTES // 1024),
                     _('a template renders one message (at most 4000 bytes)'))
            return None
        try:
            text = full.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            self.err(path + ("template_file",), _('template file {tfile} is not UTF-8 text').format(tfile=tfile))
            return None
        return TemplateSource(text, full, 1, 1, True, tfile)

    def confined(self, path: tuple, value: str, what: str) -> Path | None:
        """The regular file ``value`` names, resolved (symlinks, ``..``) inside the playbook's folder, or a problem."""
        folder = self.doc.file.parent.resolve()
        full = (folder / value).resolve()
        if not full.is_relative_to(folder):
            self.err(path, _("{what} {value} is outside the playbook's folder {folder}").format(what=what, value=value, folder=folder),
                     _('a playbook may only use files in its own folder or below it (after following symlinks and `..`); copy the file there'))
            return None
        if not full.is_file():
            self.err(path, f"{what} file {value} does not exist (looked in {full.parent})" if not full.exists()
                     else f"{what} {value} is not a regular file", _("paths are relative to the playbook's folder"))
            return None
        return full

    def attachments(self, path: tuple, value: Any, channel: str) -> tuple[Attachment, ...]:
        """A slot's/step's attachments; images are checked by content and by the size ``channel`` allows."""
        from siyu_cli.wecom.media import ROBOT_IMAGE_BYTES, UPLOAD_LIMITS

        image_limit = ROBOT_IMAGE_BYTES if channel == "robot" else UPLOAD_LIMITS["image"]
        if value is None:
            return ()
        if not isinstance(value, list):
            self.err(path, _('attachments must be a list'), _('e.g. `- image: images/poster.png`'))
            return ()
        if len(value) > MAX_ATTACHMENTS:
            self.err(path, _('{len} attachments; WeCom allows at most {MAX_ATTACHMENTS}').format(len=len(value), MAX_ATTACHMENTS=MAX_ATTACHMENTS),
                     _('split the message or drop some attachments'))
        out = []
        for i, item in enumerate(value):
            p = path + (i,)
            if not isinstance(item, dict) or len(item) != 1:
                self.err(p, _('each attachment is one of `image: FILE`, `link: {...}`, `miniprogram: {...}`'))
                continue
            (kind, body), = item.items()
            if kind not in ATTACHMENT_KINDS:
                best = closest(kind, ATTACHMENT_KINDS)
                self.err(p + (kind,), f"unknown attachment kind `{kind}`" + (f" (did you mean `{best}`?)" if best else ""),
                         _('valid kinds: {join}').format(join=', '.join(ATTACHMENT_KINDS)), key=True)
                continue
            if kind == "image":
                f = self._file(p + (kind,), body, "image", image_limit)
                if f is not None:
                    out.append(Attachment("image", path=f))
                continue
            allowed = LINK_KEYS if kind == "link" else MINIPROGRAM_KEYS
            body = self.mapping(p + (kind,), body, allowed, f"{kind} attachment")
            required = ("title", "url") if kind == "link" else ("title", "appid", "page", "pic")
            missing = [k for k in required if k not in body]
            for k in missing:
                self.err(p + (kind,), _('{kind} attachment needs `{k}`').format(kind=kind, k=k), _('{kind} needs: {join}').format(kind=kind, join=', '.join(required)))
            fields, templates, pic = [], [], None
            limits = LINK_LIMITS if kind == "link" else MINIPROGRAM_LIMITS
            for k in allowed:
                if k not in body:
                    continue
                if kind == "miniprogram" and k == "pic":
                    pic = self._file(p + (kind, k), body[k], "cover image", image_limit)
                    continue
                v = self.text(p + (kind, k), body[k], f"{kind}.{k}")
                if v is None:
                    continue
                if k in limits and "{" not in v and len(v.encode("utf-8")) > limits[k]:
                    self.err(p + (kind, k), _('{kind}.{k} is {len} bytes; WeCom allows {value}').format(kind=kind, k=k, len=len(v.encode('utf-8')), value=limits[k]),
                             _('shorten it (a Chinese character is 3 bytes)'))
                fields.append((k, v))
                if "{{" in v or "{%" in v:
                    line, col = self.doc.pos[p + (kind, k)]
                    templates.append((k, TemplateSource(v, self.doc.file, line, col, False, f"{kind}.{k}")))
            if not missing:
                out.append(Attachment(kind, path=pic, fields=tuple(fields), templates=tuple(templates)))
        return tuple(out)

    def _file(self, path: tuple, value: Any, what: str, limit: int) -> Path | None:
        """An image the message uploads: confined to the playbook's folder, JPG/PNG by content, within ``limit``."""
        from siyu_cli.wecom.media import MediaRefused, read_media

        if not isinstance(value, str) or not value.strip():
            self.err(path, _('{what} must be a file name').format(what=what))
            return None
        full = self.confined(path, value, what)
        if full is None:
            return None
        try:
            read_media(full, "image", limit=limit)  # checked again on the bytes sent (WeComClient.upload_media)
        except MediaRefused as exc:
            self.err(path, _('{what} {value} {problem}').format(what=what, value=value, problem=exc.problem),
                     _('WeCom takes JPG or PNG images (robots: at most 2 MB inline; uploads: 5 MB)'))
            return None
        return full


def _typename(value: Any) -> str:
    if value is None:
        return "empty"
    return {dict: "a mapping", list: "a list", str: "text", bool: "true/false", int: "a number",
            float: "a number"}.get(type(value), type(value).__name__)


def parse_playbook(path: Path, *, default_timezone: str = "Asia/Shanghai") -> tuple[Playbook | None, list[Problem]]:
    """Parse and validate a playbook. Returns the playbook (None if unusable) and every problem found.

    Template checks (syntax, undefined variables, sandbox) are added by
    :func:`siyu_cli.plan.templates.check_templates`; :func:`check_playbook` runs both.
    """
    problems: list[Problem] = []
    doc = load_located(Path(path), problems)
    if doc is None:
        return None, problems
    c = _Checker(doc, problems)
    data = c.mapping((), doc.data, TOP_KEYS, "the playbook")
    if not isinstance(doc.data, dict):
        return None, problems

    version = data.get("version")
    if version is None:
        c.err((), _('missing `version`'), _('add `version: 1` as the first line'))
    elif version != 1:
        c.err(("version",), _('unsupported version {version!r}').format(version=version), _('this siyu reads `version: 1`'))

    name = c.text(("name",), data.get("name"), "name", required=True)
    if name is not None and not _NAME_RE.match(name):
        c.err(("name",), _('name {name!r} must be a short id of lowercase letters, digits, - and _').format(name=name),
              _('e.g. `name: coffee-week`; put the Chinese title in `title:`'))
    title = c.text(("title",), data.get("title"), "title") or name or ""
    description = c.text(("description",), data.get("description"), "description") or ""

    tz = c.text(("timezone",), data.get("timezone"), "timezone") or default_timezone
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        c.err(("timezone",), _('unknown time zone {tz!r}').format(tz=tz), _('use an IANA name such as Asia/Shanghai or Europe/Berlin'))
        tz = default_timezone
    language = c.text(("language",), data.get("language"), "language") or "zh"
    if language not in ("zh", "en"):
        c.err(("language",), _('language must be zh or en, not {language!r}').format(language=language))

    # variables
    variables: dict[str, Any] = {}
    raw_vars = data.get("variables")
    if raw_vars is not None:
        if not isinstance(raw_vars, dict):
            c.err(("variables",), _('variables must be a mapping of name: default value'))
        else:
            for k, v in raw_vars.items():
                if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", k):
                    c.err(("variables", k), _('variable name `{k}` is not a valid identifier').format(k=k),
                          _('use letters, digits and _ (e.g. coupon_code)'), key=True)
                    continue
                if k in RESERVED_NAMES:
                    c.err(("variables", k), _('variable `{k}` hides the built-in `{k}`').format(k=k),
                          _('rename it; built-ins: {join}').format(join=', '.join(sorted(RESERVED_NAMES))), key=True)
                    continue
                variables[k] = v

    targets = _parse_targets(c, data.get("targets"))
    rules = _parse_rules(c, data.get("rules"))
    slots = _parse_week(c, data.get("week"), rules)
    sop = _parse_sop(c, data.get("sop"))
    if data.get("week") is None and data.get("sop") is None:
        c.err((), _('the playbook has neither `week:` nor `sop:`'), _('add a weekly plan (`week:`) or lifecycle steps (`sop:`)'))
    if data.get("week") is not None and "targets" not in data:
        c.err(("week",), _('a weekly plan needs `targets:` (which groups it is for)'),
              _('e.g. `targets: {tags: [咖啡群]}` or `targets: {all: true}`'), key=True)

    pb = Playbook(
        path=Path(path).resolve(),
        name=name or Path(path).stem,
        title=title,
        description=description,
        timezone=tz,
        language=language,
        targets=targets,
        variables=variables,
        rules=rules,
        slots=slots,
        sop=sop,
        loose_templates=tuple(c.loose),
    )
    return pb, problems


#: Names every template can use (see templates.py); variables may not shadow them.
RESERVED_NAMES = frozenset(
    {"group", "store", "week", "date", "slot", "step", "member", "playbook", "vars", "day", "guide"}
)


def _parse_targets(c: _Checker, value: Any) -> Targets:
    if value is None:
        return Targets()
    if isinstance(value, str) and value in ("all", "全部"):
        return Targets(all=True)
    t = c.mapping(("targets",), value, TARGET_KEYS, "targets")
    all_ = t.get("all", False)
    if not isinstance(all_, bool):
        c.err(("targets", "all"), _('targets.all must be true or false'))
        all_ = False
    fallback = []
    raw_fb = t.get("fallback")
    if raw_fb is not None:
        if not isinstance(raw_fb, list):
            c.err(("targets", "fallback"), _('targets.fallback must be a list of groups'),
                  _('e.g. `- {id: wrAAA001, name: 国贸店1群, store: 国贸店, owner: zhangsan}`'))
        else:
            seen: set[str] = set()
            for i, g in enumerate(raw_fb):
                p = ("targets", "fallback", i)
                g = c.mapping(p, g, FALLBACK_KEYS, "a fallback group")
                gid = c.text(p + ("id",), g.get("id"), "id", required=True) if g else None
                if gid is None:
                    continue
                if gid in seen:
                    c.err(p + ("id",), _('duplicate group id {gid}').format(gid=gid))
                seen.add(gid)
                mc = g.get("member_count")
                if mc is not None and (not isinstance(mc, int) or isinstance(mc, bool)):
                    c.err(p + ("member_count",), _('member_count must be a whole number'))
                    mc = None
                fallback.append(Target(
                    group_id=gid,
                    name=c.text(p + ("name",), g.get("name"), "name") or gid,
                    store=c.text(p + ("store",), g.get("store"), "store"),
                    city=c.text(p + ("city",), g.get("city"), "city"),
                    owner=c.text(p + ("owner",), g.get("owner"), "owner"),
                    tags=c.string_list(p + ("tags",), g.get("tags"), "tags"),
                    member_count=mc,
                ))
    if isinstance(value, dict) and not (all_ or t.get("tags") or t.get("stores") or t.get("groups")):
        c.err(("targets",), _('targets selects no group'),
              _('add `all: true`, `tags: [...]`, `stores: [...]` or `groups: [...]` (fallback only lists candidates)'))
    return Targets(
        all=all_,
        tags=c.string_list(("targets", "tags"), t.get("tags"), "targets.tags"),
        stores=c.string_list(("targets", "stores"), t.get("stores"), "targets.stores"),
        groups=c.string_list(("targets", "groups"), t.get("groups"), "targets.groups"),
        fallback=tuple(fallback),
    )


def _parse_rules(c: _Checker, value: Any) -> Rules:
    if value is None:
        return Rules()
    r = c.mapping(("rules",), value, RULE_KEYS, "rules")
    limit = r.get("daily_limit")
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
        c.err(("rules", "daily_limit"), _('daily_limit must be a whole number ≥ 1, not {limit!r}').format(limit=limit))
        limit = None
    stagger = r.get("stagger_minutes", 0)
    if not isinstance(stagger, int) or isinstance(stagger, bool) or not 0 <= stagger <= 120:
        c.err(("rules", "stagger_minutes"), _('stagger_minutes must be a whole number from 0 to 120, not {stagger!r}').format(stagger=stagger))
        stagger = 0
    qs = qe = None
    quiet = r.get("quiet_hours")
    if quiet is not None:
        parts = str(quiet).replace("–", "-").replace("~", "-").split("-")
        if len(parts) == 2 and parse_time(parts[0]) and parse_time(parts[1]):
            qs, qe = parse_time(parts[0]), parse_time(parts[1])
            if qs == qe:
                c.err(("rules", "quiet_hours"), _('quiet_hours start and end are the same'), _('e.g. 22:00-08:00'))
                qs = qe = None
        else:
            c.err(("rules", "quiet_hours"), _('quiet_hours {quiet!r} is not a range like 22:00-08:00').format(quiet=quiet),
                  _('write it quoted: quiet_hours: "22:00-08:00"'))
    weeks = []
    for i, w in enumerate(c.string_list(("rules", "skip_weeks"), r.get("skip_weeks"), "rules.skip_weeks")):
        pw = parse_week(w)
        if pw is None:
            c.err(("rules", "skip_weeks", i), _('{w!r} is not an ISO week').format(w=w), _('write weeks as 2026-W40'))
        else:
            weeks.append(f"{pw[0]}-W{pw[1]:02d}")
    dates = []
    raw_dates = r.get("skip_dates")
    if raw_dates is not None:
        if not isinstance(raw_dates, list):
            raw_dates = [raw_dates]
        for i, d in enumerate(raw_dates):
            if isinstance(d, date):
                dates.append(d)
            else:
                try:
                    dates.append(date.fromisoformat(str(d)))
                except ValueError:
                    c.err(("rules", "skip_dates", i), _('{d!r} is not a date').format(d=d), _('write dates as 2026-10-01'))
    channel = r.get("channel", "group")
    if channel not in SLOT_CHANNELS:
        c.err(("rules", "channel"), _('unknown channel {channel!r}').format(channel=channel), _('one of: {join}').format(join=', '.join(SLOT_CHANNELS)))
        channel = "group"
    return Rules(daily_limit=limit, quiet_start=qs, quiet_end=qe, stagger_minutes=stagger,
                 skip_weeks=tuple(weeks), skip_dates=tuple(dates), channel=channel)


def _parse_week(c: _Checker, value: Any, rules: Rules) -> tuple[Slot, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        c.err(("week",), _('week must be a list of slots'), _('each slot starts with `- weekday: 周一`'))
        return ()
    slots: list[Slot] = []
    seen: dict[str, tuple] = {}
    for i, item in enumerate(value):
        p = ("week", i)
        s = c.mapping(p, item, SLOT_KEYS, f"slot week[{i}]")
        if not s:
            continue
        days = None
        if "weekday" not in s:
            c.err(p, _('slot week[{i}] has no `weekday`').format(i=i), _('e.g. weekday: 周一 (or mon, 1, daily, 工作日)'))
        else:
            days = parse_weekdays(s["weekday"])
            if days is None:
                best = closest(str(s["weekday"]).lower(), list(_WEEKDAY_ALIASES))
                c.err(p + ("weekday",), f"bad weekday {s['weekday']!r}" + (f" (did you mean `{best}`?)" if best else ""),
                      _('use 周一…周日, mon…sun, 1…7 (1 = Monday), daily/每天, weekdays/工作日 or weekend/周末'))
        at = None
        if "time" not in s:
            c.err(p, _('slot week[{i}] has no `time`').format(i=i), _('e.g. time: "08:00"'))
        else:
            at = parse_time(s["time"])
            if at is None:
                c.err(p + ("time",), _('bad time {value!r}').format(value=s['time']), _('write 24-hour time as "HH:MM", e.g. "08:30"'))
        kind = c.text(p + ("kind",), s.get("kind"), "kind") or "消息"
        channel = s.get("channel", rules.channel)
        if channel not in SLOT_CHANNELS:
            best = closest(str(channel), SLOT_CHANNELS)
            c.err(p + ("channel",), f"unknown channel {channel!r}" + (f" (did you mean `{best}`?)" if best else ""),
                  _('one of: {join}').format(join=', '.join(SLOT_CHANNELS)))
            channel = rules.channel
        sid = c.text(p + ("id",), s.get("id"), "id")
        if sid is not None and not _NAME_RE.match(sid):
            c.err(p + ("id",), _('slot id {sid!r} must be lowercase letters, digits, - and _').format(sid=sid), _('e.g. id: mon-morning'))
        tmpl = c.template(p, s, f"slot week[{i}]")
        atts = c.attachments(p + ("attachments",), s.get("attachments"), channel)
        if days is None or at is None or tmpl is None:
            if tmpl is not None:
                c.loose.append(("slot", tmpl))
            continue
        if rules.in_quiet_hours(at):
            c.err(p + ("time",), _('slot at {at:%H:%M} falls in quiet hours {quiet_start:%H:%M}-{quiet_end:%H:%M}').format(at=at, quiet_start=rules.quiet_start, quiet_end=rules.quiet_end),
                  _('move the slot or change rules.quiet_hours'))
        for d in days:
            base = f"{WEEKDAYS[d]}-{at:%H%M}"
            occ = base if sid is None else (sid if len(days) == 1 else f"{sid}-{WEEKDAYS[d]}")
            if occ in seen:
                c.err(p, _('slot `{occ}` is defined twice (also week[{value}])').format(occ=occ, value=seen[occ][1]),
                      _('give one of them a different `id:` or time'))
                continue
            seen[occ] = (d, i)
            slots.append(Slot(id=occ, slot_id=sid or occ, index=i, weekday=d, at=at, kind=kind,
                              kind_id=kind_id(kind), channel=channel, template=tmpl, attachments=atts))
    if rules.daily_limit is not None:
        for d in range(7):
            day_slots = [sl for sl in slots if sl.weekday == d and sl.channel == "group"]
            if len(day_slots) > rules.daily_limit:
                extra = sorted(day_slots, key=lambda sl: (sl.at, sl.index))[rules.daily_limit]
                c.err(("week", extra.index), _('{value} has {len} group messages; rules.daily_limit is {daily_limit}').format(value=WEEKDAY_CN[d], len=len(day_slots), daily_limit=rules.daily_limit),
                      _('drop a slot on that day or raise rules.daily_limit'))
    slots.sort(key=lambda sl: (sl.weekday, sl.at, sl.index))
    return tuple(slots)


def _parse_sop(c: _Checker, value: Any) -> Sop | None:
    if value is None:
        return None
    s = c.mapping(("sop",), value, SOP_KEYS, "sop")
    if not s and not isinstance(value, dict):
        return None
    anchor = s.get("anchor", "member_join")
    if anchor not in SOP_ANCHORS:
        best = closest(str(anchor), SOP_ANCHORS)
        c.err(("sop", "anchor"), f"unknown anchor {anchor!r}" + (f" (did you mean `{best}`?)" if best else ""),
              _('member_join (day 0 = joined as member), group_join (day 0 = joined a group), segment_entered (day 0 = the snapshot that moved them into `segments`), clv_alive_below (day 0 = the `siyu clv` fit in which P(alive) fell below `p_alive_below`), or contact_lost / contact_added / group_left (day 0 = a contact event found by `siyu sync wecom`)'))
        anchor = "member_join"
    scheme, segments = _parse_segment_trigger(c, s, anchor)
    p_alive_below = _parse_clv_trigger(c, s, anchor)
    channel = s.get("channel", "customer")
    if channel not in SOP_CHANNELS:
        c.err(("sop", "channel"), _('unknown SOP channel {channel!r}').format(channel=channel), _('one of: {join}').format(join=', '.join(SOP_CHANNELS)))
        channel = "customer"
    default_time = time(10, 0)
    if "time" in s:
        t = parse_time(s["time"])
        if t is None:
            c.err(("sop", "time"), _('bad time {value!r}').format(value=s['time']), _('write 24-hour time as "HH:MM"'))
        else:
            default_time = t
    aud, all_ = _parse_sop_audience(c, s, anchor)
    stores = c.string_list(("sop", "audience", "stores"), aud.get("stores"), "sop.audience.stores")
    tags = c.string_list(("sop", "audience", "tags"), aud.get("tags"), "sop.audience.tags")
    steps: list[SopStep] = []
    raw_steps = s.get("steps")
    if not isinstance(raw_steps, list) or not raw_steps:
        c.err(("sop", "steps") if "steps" in s else ("sop",), _('sop needs a list of `steps`'),
              _('each step: `- {day: 0, template: ...}`'))
        raw_steps = []
    seen: dict[str, int] = {}
    for i, item in enumerate(raw_steps):
        p = ("sop", "steps", i)
        st = c.mapping(p, item, STEP_KEYS, f"step sop.steps[{i}]")
        if not st:
            continue
        day = st.get("day")
        if day is None:
            c.err(p, _('step sop.steps[{i}] has no `day`').format(i=i), _('days after joining: 0, 3, 7, 15, 30, 60, 90, 150'))
        elif not isinstance(day, int) or isinstance(day, bool) or not 0 <= day <= 3650:
            c.err(p + ("day",), _('bad day {day!r}').format(day=day), _('a whole number of days after joining, 0 = the join day'))
            day = None
        at = default_time
        if "time" in st:
            at = parse_time(st["time"])
            if at is None:
                c.err(p + ("time",), _('bad time {value!r}').format(value=st['time']), _('write 24-hour time as "HH:MM"'))
        sid = c.text(p + ("id",), st.get("id"), "id")
        if sid is None and isinstance(day, int):
            sid = f"d{day}"
        if sid is not None and not _NAME_RE.match(sid):
            c.err(p + ("id",), _('step id {sid!r} must be lowercase letters, digits, - and _').format(sid=sid))
        if sid in seen:
            c.err(p + ("id",) if "id" in st else p, _('step `{sid}` is defined twice (also sop.steps[{value}])').format(sid=sid, value=seen[sid]),
                  _('give each step its own `id:`'))
        elif sid is not None:
            seen[sid] = i
        kind = c.text(p + ("kind",), st.get("kind"), "kind") or "触达"
        sch = st.get("channel", channel)
        if sch not in SOP_CHANNELS:
            best = closest(str(sch), SOP_CHANNELS)
            c.err(p + ("channel",), f"unknown SOP channel {sch!r}" + (f" (did you mean `{best}`?)" if best else ""),
                  _('one of: {join}').format(join=', '.join(SOP_CHANNELS)))
            sch = channel
        cond = st.get("condition", "always")
        if cond not in CONDITIONS:
            best = closest(str(cond), CONDITIONS)
            c.err(p + ("condition",), f"unknown condition {cond!r}" + (f" (did you mean `{best}`?)" if best else ""),
                  _('one of: {join}').format(join=', '.join(CONDITIONS)))
            cond = "always"
        tmpl = c.template(p, st, f"step sop.steps[{i}]")
        atts = c.attachments(p + ("attachments",), st.get("attachments"), sch)
        if day is None or at is None or tmpl is None or sid is None:
            if tmpl is not None:
                c.loose.append(("step", tmpl))
            continue
        steps.append(SopStep(id=sid, index=i, day=day, at=at, kind=kind, kind_id=kind_id(kind), channel=sch,
                             condition=CONDITIONS[cond], template=tmpl, attachments=atts))
    steps.sort(key=lambda x: (x.day, x.at, x.index))
    return Sop(anchor=anchor, channel=channel, stores=stores, tags=tags, steps=tuple(steps),
               segments=segments, scheme=scheme, all=all_, p_alive_below=p_alive_below)


_AUDIENCE_HINT = ("`audience: all` for every member, or `audience: {tags: [...]}` / `audience: {stores: [...]}` "
                  "to narrow it")


def _parse_sop_audience(c: _Checker, s: dict, anchor: str) -> tuple[dict, bool]:
    """``sop.audience``: who an SOP is for. Never implied: a missing audience is an error (except for
    ``segment_entered``, whose ``segments`` say who), and "everyone" must be written as ``all``."""
    value = s.get("audience")
    if value is None:
        if anchor not in ("segment_entered", "clv_alive_below"):  # the trigger itself says who
            c.err(("sop",) if "audience" not in s else ("sop", "audience"),
                  _('the SOP has no `audience:`; siyu never assumes it is for every member'), _AUDIENCE_HINT, key=True)
        return {}, False
    if isinstance(value, str) and value in ("all", "全部"):
        return {}, True
    aud = c.mapping(("sop", "audience"), value, AUDIENCE_KEYS, "sop.audience")
    all_ = aud.get("all", False)
    if not isinstance(all_, bool):
        c.err(("sop", "audience", "all"), _('sop.audience.all must be true or false'))
        all_ = False
    if all_ and (aud.get("stores") or aud.get("tags")):
        c.err(("sop", "audience", "all"), _('sop.audience has `all: true` and stores/tags'),
              _('keep `all: true` for every member, or only stores/tags to narrow it'))
    elif isinstance(value, dict) and not (all_ or aud.get("stores") or aud.get("tags")):
        c.err(("sop", "audience"), _('sop.audience selects nobody'), _AUDIENCE_HINT)
    return aud, all_


def _parse_clv_trigger(c: _Checker, s: dict, anchor: str) -> float | None:
    """``p_alive_below`` of a ``clv_alive_below`` SOP: a number strictly between 0 and 1."""
    if anchor != "clv_alive_below":
        if "p_alive_below" in s:
            c.err(("sop", "p_alive_below"), _("`p_alive_below` only applies with `anchor: clv_alive_below` (this SOP's anchor is {anchor})").format(anchor=anchor), _('remove it, or set `anchor: clv_alive_below`'), key=True)
        return None
    value = s.get("p_alive_below")
    if value is None:
        c.err(("sop", "anchor"), _('`anchor: clv_alive_below` needs `p_alive_below`'),
              _('the P(alive) threshold, e.g. `p_alive_below: 0.3`'))
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
        c.err(("sop", "p_alive_below"), _('bad p_alive_below {value!r}').format(value=value), _('a probability between 0 and 1, e.g. 0.3'))
        return None
    return float(value)


def builtin_catalog(scheme: str) -> list[dict[str, Any]]:
    """The segment catalogue of a built-in scheme (ids, keys, Chinese and English names)."""
    from siyu_cli.segment import schemes as S

    if scheme == "rfm8":
        segs = list(S.RFM8.values())
    else:
        segs = [seg for seg, _ in S.RFM11_CODES] + [S.RFM11_LOST]
    return [seg.to_dict() for seg in segs] + [dict(S.NO_PURCHASE)]


def _parse_segment_trigger(c: _Checker, s: dict, anchor: str) -> tuple[str, tuple[str, ...]]:
    """``scheme`` and ``segments`` of a ``segment_entered`` SOP (errors if given with another anchor)."""
    if anchor != "segment_entered":
        for key in ("segments", "scheme"):
            if key in s:
                c.err(("sop", key), _("`{key}` only applies with `anchor: segment_entered` (this SOP's anchor is {anchor})").format(key=key, anchor=anchor),
                      _('remove it, or set `anchor: segment_entered` to trigger on RFM segment moves'), key=True)
        return "rfm8", ()
    scheme = s.get("scheme", "rfm8")
    known = True
    if not isinstance(scheme, str) or not (scheme in SEGMENT_SCHEMES or _CUSTOM_SCHEME_RE.match(scheme)):
        best = closest(str(scheme), SEGMENT_SCHEMES)
        c.err(("sop", "scheme"), f"unknown segment scheme {scheme!r}" + (f" (did you mean `{best}`?)" if best else ""),
              _('rfm8 (default), rfm11, or custom:<name> for a custom scheme (as `siyu segment list` shows it)'))
        scheme, known = "rfm8", False
    if "segments" not in s:
        c.err(("sop", "anchor"), _('`anchor: segment_entered` needs `segments`'),
              _('list the segments to react to, e.g. `segments: [E, G]` (ids or Chinese names of the scheme)'))
        return scheme, ()
    value = s.get("segments")
    if value is None or value == []:
        c.err(("sop", "segments"), _('`segments` is empty'), _('e.g. `segments: [E, G]`'))
        return scheme, ()
    raw = c.string_list(("sop", "segments"), value, "sop.segments")
    if not raw:
        return scheme, ()
    if scheme.startswith("custom:") or not known:
        return scheme, tuple(dict.fromkeys(raw))
    catalog = builtin_catalog(scheme)
    from siyu_cli.segment.snapshots import match_segment

    out: list[str] = []
    for i, text in enumerate(raw):
        seg = match_segment(catalog, text)
        if seg is None:
            choices = [x["id"] for x in catalog] + [x["name"] for x in catalog]
            best = closest(text, choices)
            valid = ", ".join(f"{x['id']} {x['name']}" for x in catalog)
            c.err(("sop", "segments", i), f"unknown {scheme} segment {text!r}" + (f" (did you mean `{best}`?)" if best else ""),
                  _('{scheme} segments: {valid}').format(scheme=scheme, valid=valid))
            continue
        if seg["id"] not in out:
            out.append(seg["id"])
    return scheme, tuple(out)


def check_playbook(path: Path, *, default_timezone: str = "Asia/Shanghai",
                   variables: dict[str, Any] | None = None) -> list[Problem]:
    """Every problem in a playbook: structure, rules, templates, attachments."""
    from siyu_cli.plan.templates import check_templates

    pb, problems = parse_playbook(path, default_timezone=default_timezone)
    if pb is not None:
        problems.extend(check_templates(pb, variables))
    return sorted(set(problems), key=lambda p: (p.file, p.line, p.col, p.message))


def load_playbook(path: Path, *, default_timezone: str = "Asia/Shanghai",
                  variables: dict[str, Any] | None = None) -> Playbook:
    """A playbook ready to render; any error raises DataError (exit 65) listing all of them."""
    from siyu_cli.errors import DataError
    from siyu_cli.plan.templates import check_templates

    pb, problems = parse_playbook(path, default_timezone=default_timezone)
    if pb is not None:
        problems.extend(check_templates(pb, variables))
    errors = sorted({p for p in problems if p.severity == "error"}, key=lambda p: (p.file, p.line, p.col))
    if errors or pb is None:
        first = errors[0] if errors else Problem(str(path), 1, 1, "unusable playbook")
        more = _(" (and {count} more problems)").format(count=len(errors) - 1) if len(errors) > 1 else ""
        raise DataError(_('{file}:{line}:{col}: {message}{more}').format(file=first.file, line=first.line, col=first.col, message=first.message, more=more),
                        hint=_('run `siyu plan check {path}` to see every problem').format(path=path))
    return pb
