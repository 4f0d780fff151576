"""Message templates: Jinja2 in a sandbox, strict about unknown variables.

A template that uses only campaign-wide variables renders once and every
batch carries the same text. A template that uses a per-recipient variable
(``{{ name }}``) is *personalised*: WeCom's mass-send takes one text per call,
so recipients are grouped by (sender, rendered text) and each distinct text
becomes its own batch — preview shows how many.
"""

from __future__ import annotations

from datetime import date
from functools import lru_cache

from siyu_cli.errors import DataError, UsageError
from siyu_cli.i18n import _

#: Per-recipient variables by audience kind (columns the ledger can fetch).
RECIPIENT_VARS = {
    "member": ("name", "nickname", "store", "level", "points", "guide_name", "member_id", "gender", "city"),
    "group": ("name", "store", "city", "member_count", "group_id"),
    "staff": ("name", "store", "userid"),
    "robot": (),
}
#: Variables the same for every recipient of a campaign.
COMMON_VARS = ("campaign", "today", "channel")


@lru_cache(maxsize=1)
def _env():
    from jinja2 import StrictUndefined

    from siyu_cli.templating import BoundedSandbox

    return BoundedSandbox(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False)


class Template:
    def __init__(self, source: str, kind: str):
        from jinja2 import TemplateSyntaxError, meta

        if not source or not source.strip():
            raise UsageError(_('the message text is empty (--text or --template-file)'))
        env = _env()
        try:
            ast = env.parse(source)
        except TemplateSyntaxError as exc:
            raise UsageError(_('template error on line {lineno}: {message}').format(lineno=exc.lineno, message=exc.message)) from None
        used = meta.find_undeclared_variables(ast)
        allowed = set(RECIPIENT_VARS[kind]) | set(COMMON_VARS)
        unknown = sorted(used - allowed)
        if unknown:
            raise UsageError(
                _('template uses unknown variable(s) {join}; available: {join2}').format(join=', '.join(unknown), join2=', '.join(sorted(allowed)))
            )
        self.source = source
        self.kind = kind
        self.personal_vars = sorted(used & set(RECIPIENT_VARS[kind]))
        self._tpl = env.from_string(source)

    @property
    def personalised(self) -> bool:
        return bool(self.personal_vars)

    def render(self, common: dict, recipient: dict | None = None) -> str:
        """The text for one recipient, within the template budget (siyu_cli.templating)."""
        from jinja2 import TemplateError

        from siyu_cli.templating import BudgetExceeded, render_bounded

        ctx = dict(common)
        if recipient:
            ctx.update({k: ("" if v is None else v) for k, v in recipient.items()})
        try:
            return render_bounded(self._tpl, ctx).strip()
        except BudgetExceeded as exc:
            raise DataError(_('template stopped by the sandbox: {exc}').format(exc=exc),
                             hint=_('budgets: [templates] in siyu.toml (docs/playbooks.md)')) from None
        except (TemplateError, ValueError, TypeError, ArithmeticError) as exc:
            raise UsageError(_('template error: {exc}').format(exc=exc)) from None


def common_vars(campaign_id: str, channel: str, today: date) -> dict:
    return {"campaign": campaign_id, "today": today.isoformat(), "channel": channel}
