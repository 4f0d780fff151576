"""The ``[wecom]`` section of siyu.toml: endpoints, timeouts, retries, rate limits.

Secrets are never values here: ``corp_id_env`` / ``secret_env`` / ``robot_key_env``
name environment variables (``NAME_FILE`` variants work, see siyu_cli.secrets).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from siyu_cli.errors import ConfigError
from siyu_cli.i18n import _

DEFAULT_BASE_URL = "https://qyapi.weixin.qq.com"

#: Client-side per-endpoint limits (calls per minute). WeCom's documented base limit is
#: 10,000/min per corp per API (WECOM.md §6.1); these defaults stay well below it.
DEFAULT_RATE_LIMITS: dict[str, int] = {
    "gettoken": 60,
    "externalcontact/add_msg_template": 600,
    "externalcontact/get_groupmsg_task": 600,
    "externalcontact/get_groupmsg_send_result": 600,
    "externalcontact/get_groupmsg_list_v2": 600,
    "externalcontact/remind_groupmsg_send": 120,
    "externalcontact/cancel_groupmsg_send": 120,
    "message/send": 600,
    "media/upload": 120,
}
DEFAULT_RATE_LIMIT = 1000

KEYS = {
    "base_url", "corp_id_env", "secret_env", "robot_key_env", "agent_id", "timeout", "max_retries",
    "backoff_base", "backoff_max", "rate_limits", "rate_limit_default", "token_margin", "token_cache",
    "robot_per_minute", "tags",  # [wecom.tags]: siyu_cli.sync.tags reads it
}


@dataclass
class WeComConfig:
    base_url: str = DEFAULT_BASE_URL
    corp_id_env: str = "WECOM_CORP_ID"
    secret_env: str = "WECOM_SECRET"
    robot_key_env: str = "WECOM_ROBOT_KEY"
    agent_id: int | None = None
    timeout: float = 10.0
    max_retries: int = 3
    backoff_base: float = 0.5
    backoff_max: float = 8.0
    rate_limits: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_RATE_LIMITS))
    rate_limit_default: int = DEFAULT_RATE_LIMIT
    token_margin: float = 300.0  # refresh this many seconds before expiry
    token_cache: str = "store"  # store | memory
    robot_per_minute: int = 20

    @classmethod
    def from_settings(cls, settings, env=None) -> "WeComConfig":
        env = os.environ if env is None else env
        raw: dict[str, Any] = settings.section("wecom") if settings is not None else {}
        where = f"{settings.config_file}" if settings is not None else "siyu.toml"
        unknown = set(raw) - KEYS
        if unknown:
            raise ConfigError(_('{where}: unknown key wecom.{value} (known: {join})').format(where=where, value=sorted(unknown)[0], join=', '.join(sorted(KEYS))))
        cfg = cls()
        for key in ("base_url", "corp_id_env", "secret_env", "robot_key_env", "token_cache"):
            if key in raw:
                if not isinstance(raw[key], str) or not raw[key]:
                    raise ConfigError(_('{where}: wecom.{key} must be a non-empty string').format(where=where, key=key))
                setattr(cfg, key, raw[key])
        for key in ("timeout", "backoff_base", "backoff_max", "token_margin"):
            if key in raw:
                setattr(cfg, key, _number(raw[key], f"{where}: wecom.{key}"))
        for key in ("max_retries", "rate_limit_default", "robot_per_minute", "agent_id"):
            if key in raw:
                value = raw[key]
                if isinstance(value, str) and value.isdigit():
                    value = int(value)
                if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                    raise ConfigError(_('{where}: wecom.{key} must be a non-negative integer').format(where=where, key=key))
                setattr(cfg, key, value)
        if "rate_limits" in raw:
            if not isinstance(raw["rate_limits"], dict):
                raise ConfigError(_('{where}: wecom.rate_limits must be a table of endpoint = calls per minute').format(where=where))
            for path, value in raw["rate_limits"].items():
                if not isinstance(value, int) or value < 0:
                    raise ConfigError(_('{where}: wecom.rate_limits.{path} must be a non-negative integer (0 = off)').format(where=where, path=path))
                cfg.rate_limits[path.strip("/").removeprefix("cgi-bin/")] = value
        if cfg.token_cache not in ("store", "memory"):
            raise ConfigError(_("{where}: wecom.token_cache must be 'store' or 'memory'").format(where=where))
        if env.get("SIYU_WECOM_BASE_URL"):
            cfg.base_url = env["SIYU_WECOM_BASE_URL"]
        cfg.base_url = cfg.base_url.rstrip("/")
        return cfg

    def limit_for(self, endpoint: str) -> int:
        return self.rate_limits.get(endpoint, self.rate_limit_default)


def _number(value, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ConfigError(_('{where} must be a non-negative number').format(where=where))
    return float(value)
