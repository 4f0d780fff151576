"""A local WeCom sandbox: same endpoints, shapes, errcodes and limits as the real API (docs/wecom.md)."""

from siyu_cli.sandbox.server import SandboxServer

__all__ = ["SandboxServer"]
