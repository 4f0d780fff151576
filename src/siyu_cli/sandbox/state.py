"""The sandbox's model of one WeCom corp: staff, customers, groups, tokens, mass sends, deliveries.

Every endpoint handler takes ``(query, body)`` and returns a JSON-able dict in
WeCom's shape (errcode/errmsg + payload), following /work/shared/WECOM.md:

- ``add_msg_template`` creates one task per guide; recipients are routed to the
  follower who last interacted with them; unknown ids go to ``fail_list``; when
  nobody is eligible (all unknown / over quota) the call fails with 41048;
- nothing is delivered until the guide confirms (auto after a delay, by a control
  call, or never); at confirmation each recipient becomes status 1 (sent), 2 (not a
  friend any more) or 3 (over the per-customer quota);
- tokens expire (``token_ttl``), per-minute limits answer 45009, reminders are
  limited to 3 per mass send per 24 h, cancel stops unconfirmed tasks.

All state is guarded by one lock; the HTTP layer is in server.py.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from pathlib import Path
from typing import Any, Callable
from zoneinfo import ZoneInfo

from siyu_cli.sandbox.activity import ActivityAPI
from siyu_cli.sandbox.contacts import ContactsAPI
from siyu_cli.sandbox.directory import DirectoryAPI
from siyu_cli.sandbox.masssend import MassSendAPI
from siyu_cli.sandbox.messages import MessagesAPI, robot_id  # noqa: F401 (robot_id re-exported)
from siyu_cli.sandbox.records import RecordsMixin
from siyu_cli.sandbox.seeding import SeedingMixin
from siyu_cli.sandbox.tags import TagsAPI
from siyu_cli.sandbox.tokens import TokensAPI
from siyu_cli.sandbox.wire import ERRMSG, HELP, _cursor, _offset, _page, err, ok  # noqa: F401 (re-exported)

#: Per-customer mass-send quota: current rule is days-in-month per calendar month (WECOM.md §2.4).
DEFAULT_QUOTA = {"period": "month", "limit": None}
DEFAULT_RATE_LIMIT = 10_000  # per corp per API per minute (WECOM.md §6.1)


class SandboxState(TokensAPI, MassSendAPI, MessagesAPI, DirectoryAPI, ContactsAPI, TagsAPI, ActivityAPI,
                   RecordsMixin, SeedingMixin):
    """One corp (see module docstring): its data, the lock and the dispatch; the endpoints live in mixins by API
    area (tokens.py, masssend.py, messages.py, directory.py, contacts.py, tags.py, activity.py) with the record
    on disk (records.py) and seeding (seeding.py)."""

    def __init__(self, *, corp_id: str, secret: str, robot_keys: list[str], confirm: str = "auto",
                 confirm_delay: float = 0.0, token_ttl: int = 7200, quota: dict | None = None,
                 rate_limits: dict | None = None, rate_limit_default: int = DEFAULT_RATE_LIMIT,
                 robot_per_minute: int = 20, app_per_member_minute: int = 30, remind_limit: int = 3,
                 dispatch_delay: float = 0.0, state_dir: Path | None = None, clock: Callable[[], float] = time.time,
                 timezone: str = "Asia/Shanghai"):
        if confirm not in ("auto", "manual", "never"):
            raise ValueError("confirm must be auto, manual or never")
        self.lock = threading.RLock()
        self.corp_id = corp_id
        self.secret = secret
        self.robot_keys = {robot_id(k): k for k in robot_keys}
        self.confirm_mode = confirm
        self.confirm_delay = confirm_delay
        self.token_ttl = token_ttl
        self.quota = dict(DEFAULT_QUOTA, **(quota or {}))
        self.rate_limits = {k.strip("/").removeprefix("cgi-bin/"): v for k, v in (rate_limits or {}).items()}
        self.rate_limit_default = rate_limit_default
        self.robot_per_minute = robot_per_minute
        self.app_per_member_minute = app_per_member_minute
        self.remind_limit = remind_limit
        self.dispatch_delay = dispatch_delay  # task/result polls answer 41063 this long after creation
        self.state_dir = Path(state_dir) if state_dir else None
        self.clock = clock
        self.tz = ZoneInfo(timezone)  # quota periods (day/week/month) are local calendar periods
        self.rotate_tokens = False
        # corp data
        self.staff: dict[str, str] = {}
        self.user_read_errcode: int | None = None  # user/get answers this (60011 / 48002: the app may not read staff)
        self.contacts: dict[str, dict] = {}  # external_userid -> {"name", "followers": {userid: added}, "last"}
        self.removed: set[tuple[str, str]] = set()  # (external_userid, userid) the guide removed: gone from lists
        # (external_userid, userid) the customer deleted: WeCom keeps listing the relation on the guide's side
        # (one-way), only mass sends to it fail (status 2) and the del_follow_user callback tells
        self.deleted_by_customer: set[tuple[str, str]] = set()
        self.callback_events: list[dict] = []  # the change_external_contact callbacks WeCom would have posted
        self.groups: dict[str, dict] = {}  # chat_id -> {"name", "owner", "members": [...], "create_time"}
        self.media: dict[str, float] = {}
        self._init_contacts()
        self._init_tags()
        self._log = None
        self._reset_runtime()
        self._load_deliveries()
        self._load_messages()

    # ------------------------------------------------------------------ runtime state
    def _reset_runtime(self) -> None:
        self.tokens: dict[str, float] = {}
        self.current_token: str | None = None
        self.msgs: dict[str, dict] = {}
        self.order: list[str] = []
        self.pending: dict[tuple[str, str], float | None] = {}  # (msgid, userid) -> auto-confirm time
        self.usage: dict[str, list[float]] = {}
        self.app_dedupe: dict[tuple, tuple[float, str]] = {}
        self.app_minute: dict[str, deque] = {}
        self.robot_minute: dict[str, deque] = {}
        self.api_minute: dict[str, deque] = {}
        self._deliveries: list[dict] = []
        self.counters = {"requests": 0, "gettoken": 0, "app_dropped": 0}
        self.endpoint_calls: dict[str, int] = {}  # per API path, errors included (benchmarks, tests)

    def reset(self) -> None:
        with self.lock:
            self._reset_runtime()
            self.close()
            if self.state_dir:
                (self.state_dir / "deliveries.jsonl").write_text("", encoding="utf-8")
                (self.state_dir / "messages.json").unlink(missing_ok=True)

    def close(self) -> None:
        """Flush the record: the deliveries log and a snapshot of the mass sends (for a restart)."""
        if self._log is not None:
            self._log.close()
            self._log = None
        self.save_messages()








































    ENDPOINTS = {
        # path: (method, handler name, needs token)
        "gettoken": ("GET", "gettoken", False),
        "externalcontact/add_msg_template": ("POST", "add_msg_template", True),
        "externalcontact/get_groupmsg_list_v2": ("POST", "get_groupmsg_list_v2", True),
        "externalcontact/get_groupmsg_task": ("POST", "get_groupmsg_task", True),
        "externalcontact/get_groupmsg_send_result": ("POST", "get_groupmsg_send_result", True),
        "externalcontact/remind_groupmsg_send": ("POST", "remind_groupmsg_send", True),
        "externalcontact/cancel_groupmsg_send": ("POST", "cancel_groupmsg_send", True),
        "message/send": ("POST", "message_send", True),
        "webhook/send": ("POST", "webhook_send", False),
        "media/upload": ("POST", "media_upload", True),
        "externalcontact/get_follow_user_list": ("GET", "get_follow_user_list", True),
        "user/get": ("GET", "user_get", True),
        "externalcontact/list": ("GET", "externalcontact_list", True),
        "externalcontact/get": ("GET", "externalcontact_get", True),
        "externalcontact/groupchat/list": ("POST", "groupchat_list", True),
        "externalcontact/groupchat/get": ("POST", "groupchat_get", True),
        "externalcontact/batch/get_by_user": ("POST", "batch_get_by_user", True),
        "externalcontact/get_corp_tag_list": ("POST", "get_corp_tag_list", True),
        "externalcontact/add_corp_tag": ("POST", "add_corp_tag", True),
        "externalcontact/mark_tag": ("POST", "mark_tag", True),
        "externalcontact/get_user_behavior_data": ("POST", "get_user_behavior_data", True),
        "externalcontact/groupchat/statistic": ("POST", "groupchat_statistic", True),
    }

    def handle(self, endpoint: str, query: dict, body: Any) -> dict:
        """Dispatch one API call (the caller holds no lock; this takes it)."""
        spec = self.ENDPOINTS.get(endpoint)
        if spec is None:
            return err(40058, f"unknown api {endpoint}")
        with self.lock:
            self.counters["requests"] += 1
            self.endpoint_calls[endpoint] = self.endpoint_calls.get(endpoint, 0) + 1
            self.tick()
            if spec[2]:
                problem = self.check_token(query)
                if problem:
                    return problem
            if endpoint != "webhook/send" and not self.rate_ok(endpoint):
                return err(45009)
            if body is None and spec[0] == "POST" and endpoint != "media/upload":
                return err(40058, "Warning: wrong json format.")
            if spec[0] == "POST" and endpoint != "media/upload" and not isinstance(body, dict):
                return err(40058, "Warning: wrong json format.")
            try:
                return getattr(self, spec[1])(query, body if body is not None else {})
            except (TypeError, ValueError, KeyError, AttributeError):
                return err(40058, "invalid parameter type")
