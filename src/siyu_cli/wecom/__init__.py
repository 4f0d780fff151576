"""WeCom (企业微信) server API client: mass send, app messages, media, group robots.

See docs/wecom.md. Heavy imports (httpx) happen when a client is created.
"""

from siyu_cli.wecom.errors import AmbiguousSend, WeComError

__all__ = ["WeComClient", "WebhookClient", "WeComError", "AmbiguousSend", "WeComConfig"]


def __getattr__(name):
    if name == "WeComClient":
        from siyu_cli.wecom.client import WeComClient

        return WeComClient
    if name == "WebhookClient":
        from siyu_cli.wecom.webhook import WebhookClient

        return WebhookClient
    if name == "WeComConfig":
        from siyu_cli.wecom.config import WeComConfig

        return WeComConfig
    raise AttributeError(name)
