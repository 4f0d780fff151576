"""Shared helpers for the wecom/sandbox tests (not a test module)."""

from __future__ import annotations

from siyu_cli.wecom.client import WeComClient
from siyu_cli.wecom.config import WeComConfig


def make_client(sb, settings=None, **cfg) -> WeComClient:
    """A client for sandbox ``sb`` with tiny backoffs (tests stay fast)."""
    opts = dict(base_url=sb.url, token_cache="store" if settings is not None else "memory", agent_id=1000002,
                backoff_base=0.001, backoff_max=0.01, max_retries=3, timeout=5.0)
    opts.update(cfg)
    return WeComClient(settings, corp_id=sb.corp_id, secret=sb.secret, config=WeComConfig(**opts))
