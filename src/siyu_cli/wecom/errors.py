"""WeCom errors: one class carrying the errcode, its category and a secret-free message."""

from __future__ import annotations

from siyu_cli.errors import ExitCode, SiyuError
from siyu_cli.wecom import errcodes


class WeComError(SiyuError):
    """A WeCom call failed. ``category`` says what the caller should do (see errcodes.py)."""

    def __init__(self, errcode: int, errmsg: str = "", *, category: str | None = None, endpoint: str = "",
                 payload: dict | None = None, hint: str | None = None):
        from siyu_cli.secrets import redact

        entry = errcodes.lookup(errcode)
        self.errcode = errcode
        self.errmsg = redact(errmsg or entry.meaning)
        self.category = category or entry.category
        self.endpoint = endpoint
        self.payload = payload or {}  # e.g. fail_list / invaliduser carried by an error response
        where = f"{endpoint}: " if endpoint else ""
        message = f"WeCom {where}errcode {errcode} ({self.category}): {self.errmsg}"
        if entry.config:
            exit_code = ExitCode.CONFIG
        elif self.category == errcodes.RETRY:
            exit_code = ExitCode.TEMPFAIL
        else:
            exit_code = ExitCode.FAILURE
        super().__init__(message, exit_code=exit_code, hint=hint)


class AmbiguousSend(WeComError):
    """The request may have reached WeCom (timeout / dropped connection after it was sent).

    Raised for calls that must never be repeated blindly (``add_msg_template``):
    the caller must reconcile, e.g. by listing ``get_groupmsg_list_v2`` for the
    sender and time window, before deciding whether to send again.
    """

    def __init__(self, errcode: int, errmsg: str = "", *, endpoint: str = "", payload: dict | None = None):
        super().__init__(
            errcode, errmsg, category=errcodes.RETRY, endpoint=endpoint, payload=payload,
            hint="the message may or may not have been created; reconcile before sending again",
        )
        self.exit_code = ExitCode.TEMPFAIL
