"""Value checks shared by the playbook parser: each records a problem at the value's position."""

from __future__ import annotations

from siyu_cli.i18n import _

from pathlib import Path
from typing import Any

from siyu_cli.plan.located import Located
from siyu_cli.plan.model import (
    ATTACHMENT_KINDS, LINK_KEYS, LINK_LIMITS, MAX_ATTACHMENTS, MINIPROGRAM_KEYS, MINIPROGRAM_LIMITS,
    TEMPLATE_FILE_BYTES, Attachment, Problem, TemplateSource, closest, parse_time,
)

def _did_you_mean(word: str, choices) -> str:
    best = closest(word, choices)
    if best:
        return f"did you mean `{best}`? valid keys: {', '.join(choices)}"
    return f"valid keys: {', '.join(choices)}"


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

    def time_of(self, path: tuple, mapping: dict, hint: str):
        """``mapping["time"]`` as a time of day; a bad value is recorded at ``path + ("time",)`` and gives None."""
        at = parse_time(mapping["time"])
        if at is None:
            self.err(path + ("time",), _('bad time {value!r}').format(value=mapping['time']), hint)
        return at

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
