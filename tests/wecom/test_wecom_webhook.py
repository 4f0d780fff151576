"""Group-robot webhook: size limits, the 20/min limit (client and server), key handling."""

from __future__ import annotations

import pytest

from siyu_cli.errors import ConfigError, DataError, ExitCode
from siyu_cli.sandbox import SandboxServer
from siyu_cli.wecom.errors import AmbiguousSend, WeComError
from siyu_cli.wecom.webhook import WebhookClient, key_id


@pytest.fixture
def sb():
    with SandboxServer(robot_keys=["key-one-0123456789", "key-two-0123456789"]) as server:
        yield server


def test_text_and_markdown_byte_limits(sb):
    w = WebhookClient("key-one-0123456789", base_url=sb.url)
    w.send_text("字" * 682 + "ab")  # 2048 bytes exactly
    with pytest.raises(DataError, match="2049 bytes"):
        w.send_text("字" * 683)  # 2049 bytes
    w.send_markdown("**周计划**\n" + "a" * (4096 - len("**周计划**\n".encode())))
    with pytest.raises(DataError):
        w.send_markdown("a" * 4097)
    assert [len(m["text"].encode()) for m in sb.robot_messages("key-one-0123456789")] == [2048, 4096]


def test_server_enforces_sizes_too(sb):
    import httpx

    r = httpx.post(f"{sb.url}/cgi-bin/webhook/send", params={"key": "key-one-0123456789"},
                   json={"msgtype": "text", "text": {"content": "x" * 2049}})
    assert r.json()["errcode"] == 45002


def test_client_waits_or_refuses_past_20_per_minute(sb):
    w = WebhookClient("key-two-0123456789", base_url=sb.url, max_wait=0)
    for i in range(20):
        w.send_text(f"alert {i}")
    with pytest.raises(WeComError) as info:
        w.send_text("alert 21")
    assert info.value.errcode == 45009 and info.value.exit_code == ExitCode.TEMPFAIL
    assert len(sb.robot_messages("key-two-0123456789")) == 20
    assert sb.robot_messages("key-one-0123456789") == []  # the limit is per robot


def test_server_per_minute_limit_returns_45009(sb):
    w = WebhookClient("key-one-0123456789", base_url=sb.url, per_minute=100, max_retries=0)
    for i in range(20):
        w.send_text(f"m{i}")
    with pytest.raises(WeComError) as info:
        w.send_text("m20")
    assert info.value.errcode == 45009
    assert len(sb.robot_messages()) == 20


def test_unknown_key_is_fatal_and_never_shown(sb):
    w = WebhookClient("wrong-key-abcdef123", base_url=sb.url)
    with pytest.raises(WeComError) as info:
        w.send_text("x")
    assert info.value.errcode == 93000 and info.value.exit_code == ExitCode.CONFIG
    assert "wrong-key-abcdef123" not in str(info.value) + repr(w)
    assert repr(w) == f"WebhookClient({key_id('wrong-key-abcdef123')})"


def test_dropped_response_is_ambiguous_not_reposted(sb):
    w = WebhookClient("key-one-0123456789", base_url=sb.url)
    sb.inject("drop_after", "webhook/send")
    with pytest.raises(AmbiguousSend):
        w.send_text("once")
    assert [m["text"] for m in sb.robot_messages()] == ["once"]


def test_mentions_and_from_settings(sb, settings, monkeypatch):
    monkeypatch.setenv("WECOM_ROBOT_KEY", "key-one-0123456789")
    monkeypatch.setenv("SIYU_WECOM_BASE_URL", sb.url)
    w = WebhookClient.from_settings(settings)
    w.send_text("请查看", mentioned_list=["@all"])
    [msg] = sb.robot_messages("key-one-0123456789")
    assert msg["attachments"] == [{"msgtype": "text", "mentioned_list": ["@all"]}]
    monkeypatch.delenv("WECOM_ROBOT_KEY")
    with pytest.raises(ConfigError, match="WECOM_ROBOT_KEY"):
        WebhookClient.from_settings(settings)


def test_image_and_news(sb, tmp_path):
    import hashlib

    img = tmp_path / "chart.png"
    img.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 10)
    w = WebhookClient("key-one-0123456789", base_url=sb.url)
    w.send_image(img)
    w.send_news([{"title": "本周计划", "url": "https://example.cn/plan", "description": "3 个活动"}])
    with pytest.raises(DataError):
        w.send_news([])
    msgs = sb.robot_messages()
    assert msgs[0]["text"] == f"image md5={hashlib.md5(img.read_bytes()).hexdigest()} bytes={img.stat().st_size}"
    assert "本周计划" in msgs[1]["text"]
    big = tmp_path / "big.png"
    big.write_bytes(b"0" * (2 * 1024 * 1024 + 1))
    with pytest.raises(DataError):
        w.send_image(big)
