"""WeComClient against the sandbox over real HTTP: every errcode category, tokens, limits, ambiguity."""

from __future__ import annotations

import logging
import traceback

import pytest

from siyu_cli.errors import ConfigError, DataError, ExitCode
from siyu_cli.sandbox import SandboxServer
from siyu_cli.wecom import errcodes
from siyu_cli.wecom.errors import AmbiguousSend, WeComError
from siyu_cli.wecom.ratelimit import RateLimiter
from wecom_helpers import make_client


@pytest.fixture
def sb():
    with SandboxServer(confirm="manual") as server:
        yield server


# ---------------------------------------------------------------- the errcode table

def test_every_errcode_in_wecom_md_is_classified():
    # the codes WECOM.md §1.3, §2, §5 and §6.2 name, with the category the doc's advice implies
    expected = {
        -1: "retry", 41063: "retry", 45009: "retry", 45033: "retry",
        40014: "refresh", 42001: "refresh", 41001: "refresh", 40082: "refresh", 42009: "refresh",
        40003: "skip", 40096: "skip", 41048: "skip", 60011: "skip", 81013: "skip", 84061: "skip",
        40001: "fatal", 40013: "fatal", 48002: "fatal", 60020: "fatal", 40058: "fatal", 40008: "fatal",
        40068: "fatal", 41046: "fatal", 41047: "fatal", 41064: "fatal", 41065: "fatal", 44004: "fatal",
        45001: "fatal", 45002: "fatal", 45029: "fatal", 81017: "fatal", 84074: "fatal", 90206: "fatal",
        93000: "fatal", 93004: "fatal", 93006: "fatal", 93008: "fatal",
    }
    for code, category in expected.items():
        assert code in errcodes.ERRCODES, code
        assert errcodes.classify(code) == category, code
    assert errcodes.classify(12345678) == "fatal"  # unknown: never retried
    assert all(e.category in errcodes.CATEGORIES for e in errcodes.table())


def test_error_exit_codes():
    assert WeComError(45009).exit_code == ExitCode.TEMPFAIL
    assert WeComError(40001).exit_code == ExitCode.CONFIG
    assert WeComError(40058).exit_code == ExitCode.FAILURE
    assert AmbiguousSend(errcodes.TIMEOUT_READ).exit_code == ExitCode.TEMPFAIL


# ---------------------------------------------------------------- categories over HTTP

def test_retry_category_backs_off_then_succeeds(sb):
    client = make_client(sb)
    sb.inject("errcode", "get_follow_user_list", errcode=45009)
    sb.inject("errcode", "get_follow_user_list", errcode=-1)
    assert client.get_follow_user_list() == ["guide01", "guide02", "guide03"]
    assert client.stats["retries"] == 2


def test_retry_category_gives_up_after_max_retries(sb):
    client = make_client(sb, max_retries=2)
    for _ in range(3):
        sb.inject("errcode", "get_follow_user_list", errcode=45033)
    with pytest.raises(WeComError) as info:
        client.get_follow_user_list()
    assert (info.value.errcode, info.value.category) == (45033, "retry")
    assert client.stats["retries"] == 2


def test_refresh_category_fetches_a_new_token_once(sb):
    client = make_client(sb)
    client.get_follow_user_list()
    assert sb.state.counters["gettoken"] == 1
    sb.expire_tokens()  # WeCom invalidated the token early, mid-sequence
    assert client.get_groupmsg_list_v2(chat_type="single", start_time=1_700_000_000, end_time=1_700_086_400) == []
    assert sb.state.counters["gettoken"] == 2
    assert client.stats["refreshes"] == 1


def test_refresh_is_bounded_to_one_retry(sb):
    client = make_client(sb)
    sb.inject("errcode", "get_follow_user_list", errcode=42001)
    sb.inject("errcode", "get_follow_user_list", errcode=40014)
    with pytest.raises(WeComError) as info:
        client.get_follow_user_list()
    assert info.value.errcode == 40014 and info.value.category == "fatal"
    assert sb.state.counters["gettoken"] == 2  # initial + one refresh, no loop


def test_skip_category_carries_fail_list(sb):
    client = make_client(sb)
    with pytest.raises(WeComError) as info:
        client.add_msg_template(chat_type="single", sender="guide01", external_userid=["wm-unknown"], text="hi")
    assert info.value.errcode == 41048 and info.value.category == "skip"
    assert info.value.payload["fail_list"] == ["wm-unknown"]
    assert sb.messages() == []


def test_fatal_wrong_secret_is_a_config_error_without_retry(sb):
    from siyu_cli.wecom.client import WeComClient
    from siyu_cli.wecom.config import WeComConfig

    client = WeComClient(None, corp_id=sb.corp_id, secret="not-the-secret-0123",
                         config=WeComConfig(base_url=sb.url, token_cache="memory", backoff_base=0.001))
    with pytest.raises(WeComError) as info:
        client.get_follow_user_list()
    assert info.value.errcode == 40001 and info.value.exit_code == ExitCode.CONFIG
    assert sb.state.counters["gettoken"] == 1  # never loop on a bad secret (IP ban)
    assert "not-the-secret-0123" not in str(info.value)


def test_fatal_wrong_corp_id(sb):
    from siyu_cli.wecom.client import WeComClient
    from siyu_cli.wecom.config import WeComConfig

    client = WeComClient(None, corp_id="wwwrong", secret=sb.secret, config=WeComConfig(base_url=sb.url, token_cache="memory"))
    with pytest.raises(WeComError) as info:
        client.get_follow_user_list()
    assert info.value.errcode == 40013


def test_http_5xx_is_retried_for_reads(sb):
    client = make_client(sb)
    sb.inject("http5xx", "get_follow_user_list")
    assert len(client.get_follow_user_list()) == 3
    assert client.stats["retries"] == 1


def test_dropped_connection_before_processing_is_retried_for_reads(sb):
    client = make_client(sb)
    sb.inject("drop", "groupchat/list")
    assert [g["chat_id"] for g in client.groupchat_list()] == ["wrsandbox01", "wrsandbox02", "wrsandbox03"]


def test_timeout_is_retried_for_reads(sb):
    client = make_client(sb, timeout=0.3)
    sb.inject("latency", "get_follow_user_list", seconds=0.6)
    assert len(client.get_follow_user_list()) == 3
    assert client.stats["retries"] == 1


# ---------------------------------------------------------------- mass send is never retried blindly

def test_dropped_connection_after_send_raises_ambiguous_send_and_creates_one_task(sb):
    client = make_client(sb)
    sb.inject("drop_after", "add_msg_template")
    with pytest.raises(AmbiguousSend) as info:
        client.add_msg_template(chat_type="single", sender="guide01", external_userid=["wmsandbox0001"], text="秋季上新")
    assert info.value.errcode == errcodes.CONNECTION_DROPPED
    assert len(sb.messages()) == 1  # WeCom did create it; the client did not create a second one
    # the caller reconciles by listing what WeCom holds
    created = sb.messages()[0]["create_time"]
    listed = client.get_groupmsg_list_v2(chat_type="single", start_time=created - 60, end_time=created + 60,
                                         creator="guide01")
    assert [m["msgid"] for m in listed] == [sb.messages()[0]["msgid"]]


def test_timeout_after_send_raises_ambiguous_send(sb):
    client = make_client(sb, timeout=0.3)
    sb.inject("latency", "add_msg_template", seconds=0.6)
    with pytest.raises(AmbiguousSend):
        client.add_msg_template(chat_type="single", sender="guide01", external_userid=["wmsandbox0001"], text="x")
    assert client.stats["retries"] == 0


@pytest.mark.parametrize("kind,extra", [("http5xx", {}), ("errcode", {"errcode": -1})])
def test_5xx_and_system_busy_on_mass_send_are_ambiguous(sb, kind, extra):
    client = make_client(sb)
    sb.inject(kind, "add_msg_template", **extra)
    with pytest.raises(AmbiguousSend):
        client.add_msg_template(chat_type="single", sender="guide01", external_userid=["wmsandbox0001"], text="x")
    assert sb.state.counters["requests"] == 1  # gettoken only: the rejected request was not repeated


def test_rate_limited_mass_send_is_safely_retried(sb):
    client = make_client(sb)
    sb.inject("errcode", "add_msg_template", errcode=45009)  # rejected before processing
    result = client.add_msg_template(chat_type="single", sender="guide01", external_userid=["wmsandbox0001"], text="x")
    assert result["msgid"] and len(sb.messages()) == 1


def test_expired_token_on_mass_send_refreshes_and_sends_once(sb):
    client = make_client(sb)
    client.get_follow_user_list()
    sb.expire_tokens()
    client.add_msg_template(chat_type="single", sender="guide01", external_userid=["wmsandbox0001"], text="x")
    assert len(sb.messages()) == 1


def test_client_side_limits_on_mass_send(sb):
    client = make_client(sb)
    with pytest.raises(DataError):
        client.add_msg_template(chat_type="single", sender="guide01", external_userid=["a"] * 10_001, text="x")
    with pytest.raises(DataError):
        client.add_msg_template(chat_type="single", sender="guide01", external_userid=["a"], text="字" * 1334)  # 4002 bytes
    with pytest.raises(DataError):
        client.add_msg_template(chat_type="single", sender="guide01", external_userid=["a"], text="x",
                                attachments=[{"msgtype": "link", "link": {"title": "t", "url": "https://e.cn"}}] * 10)
    assert sb.state.counters["requests"] == 0


# ---------------------------------------------------------------- tokens shared through the store

def test_token_shared_between_clients_through_the_store(sb, settings):
    a = make_client(sb, settings)
    b = make_client(sb, settings)
    a.get_follow_user_list()
    b.get_follow_user_list()
    assert sb.state.counters["gettoken"] == 1
    from siyu_cli.store import open_store

    with open_store(settings, read_only=True) as con:
        (enc,) = con.execute("SELECT token_enc FROM wecom_tokens").fetchone()
    token = sb.state.current_token
    assert token not in enc and sb.secret not in enc  # stored encrypted, never plain


def test_second_client_adopts_the_refreshed_token_without_fetching(sb, settings):
    a = make_client(sb, settings)
    b = make_client(sb, settings)
    a.get_follow_user_list()
    b.get_follow_user_list()
    sb.expire_tokens()
    a.get_follow_user_list()  # a refreshes: gettoken #2
    b.get_follow_user_list()  # b's memory token is stale: it finds a's new token in the store
    assert sb.state.counters["gettoken"] == 2
    assert b.stats["token_fetches"] == 0


def test_token_refreshed_before_expiry(sb):
    sb.state.token_ttl = 100
    client = make_client(sb, token_margin=30)
    client.get_follow_user_list()
    tok = client.tokens.memory()
    import time

    assert 60 < tok.expires_at - time.time() <= 90  # 100 s lifetime - min(30, 10% = 10 s) margin


# ---------------------------------------------------------------- rate limiting

def test_client_side_rate_limit_waits_for_the_window(sb):
    client = make_client(sb, rate_limits={"externalcontact/get_follow_user_list": 3})
    now = [1000.0]
    slept = []

    def sleep(s):
        slept.append(s)
        now[0] += s

    client.limiter = RateLimiter(client.config.limit_for, clock=lambda: now[0], sleep=sleep)
    for _ in range(5):
        client.get_follow_user_list()
    assert len(slept) == 1 and slept[0] == pytest.approx(60.0)  # 4th call waited for the first to leave the window
    assert sb.state.counters["requests"] == 6  # 5 calls + gettoken


def test_server_rate_limit_returns_45009():
    with SandboxServer(rate_limits={"externalcontact/get_follow_user_list": 2}) as sb:
        client = make_client(sb, max_retries=0)
        client.get_follow_user_list()
        client.get_follow_user_list()
        with pytest.raises(WeComError) as info:
            client.get_follow_user_list()
        assert info.value.errcode == 45009 and info.value.exit_code == ExitCode.TEMPFAIL


# ---------------------------------------------------------------- secrets never shown

def test_no_secret_in_logs_errors_or_tracebacks(sb, caplog, capsys, monkeypatch):
    from siyu_cli.secrets import RedactingFilter

    caplog.set_level(logging.DEBUG)
    for handler in logging.getLogger().handlers:
        monkeypatch.setattr(handler, "filters", [*handler.filters, RedactingFilter()])
    httpx_logger = logging.getLogger("httpx")
    monkeypatch.setattr(httpx_logger, "level", logging.DEBUG)  # httpx logs full URLs (with the secret) at INFO
    client = make_client(sb)
    client.get_follow_user_list()
    token = sb.state.current_token
    sb.inject("errcode", "get_follow_user_list", errcode=40058)
    with pytest.raises(WeComError) as info:
        client.get_follow_user_list()
    texts = [caplog.text, str(info.value), repr(info.value), "".join(traceback.format_exception(info.value)),
             repr(client), str(client.__dict__.get("config"))]
    captured = capsys.readouterr()
    texts += [captured.out, captured.err]
    messages = [logging.Formatter().format(r) for r in caplog.records]
    texts += messages
    assert any("gettoken" in m or "get_follow_user_list" in m for m in messages)
    for text in texts:
        assert sb.secret not in text
        assert token not in text


def test_missing_secret_is_a_config_error_naming_the_variable(monkeypatch, settings):
    from siyu_cli.wecom.client import WeComClient

    monkeypatch.setenv("WECOM_CORP_ID", "wwx")
    with pytest.raises(ConfigError, match="WECOM_SECRET"):
        WeComClient.from_settings(settings)


def test_secret_read_from_file_variable(monkeypatch, settings, tmp_path, sb):
    from siyu_cli.wecom.client import WeComClient

    f = tmp_path / "secret"
    f.write_text(sb.secret + "\n")
    f.chmod(0o600)
    monkeypatch.setenv("WECOM_CORP_ID", sb.corp_id)
    monkeypatch.setenv("WECOM_SECRET_FILE", str(f))
    monkeypatch.setenv("SIYU_WECOM_BASE_URL", sb.url)
    with WeComClient.from_settings(settings) as client:
        assert client.base_url == sb.url
        assert len(client.get_follow_user_list()) == 3


# ---------------------------------------------------------------- media and app messages

def test_upload_media_is_cached_by_file_hash(sb, settings, tmp_path):
    img = tmp_path / "a.png"
    img.write_bytes(b"\x89PNG\r\n\x1a\n fake image bytes")
    client = make_client(sb, settings)
    first = client.upload_media(img)
    assert client.upload_media(img) == first
    copy = tmp_path / "b.png"
    copy.write_bytes(img.read_bytes())
    other = make_client(sb, settings)  # another process: finds it in the store
    assert other.upload_media(copy) == first
    assert len(sb.state.media) == 1
    # an image attachment given by path is uploaded (once) and sent by media_id
    client.add_msg_template(chat_type="single", sender="guide01", external_userid=["wmsandbox0001"],
                            attachments=[{"msgtype": "image", "image": {"path": str(img)}}])
    assert sb.messages()[0]["attachments"] == [{"msgtype": "image", "image": {"media_id": first}}]


def test_app_message_partial_invalid_and_all_invalid(sb):
    client = make_client(sb)
    result = client.send_app_message(touser=["guide01", "ghost"], text="今日SOP任务: 3 条")
    assert result["invaliduser"] == ["ghost"]
    assert [d["recipient"] for d in sb.deliveries("app")] == ["guide01"]
    with pytest.raises(WeComError) as info:
        client.send_app_message(touser=["ghost"], text="x")
    assert info.value.errcode == 81013 and info.value.category == "skip"


def test_app_message_retry_after_drop_is_deduplicated(sb):
    client = make_client(sb)
    sb.inject("drop_after", "message/send")  # delivered, but the response was lost
    client.send_app_message(touser=["guide02"], text="提醒: 有 5 条待发送群发")  # retried (duplicate check on)
    assert len(sb.deliveries("app")) == 1


def test_two_processes_share_one_token_fetch(sb, workspace):
    import os
    import subprocess
    import sys
    from pathlib import Path

    script = (
        "from siyu_cli.config import load_settings\n"
        "from siyu_cli.wecom.client import WeComClient\n"
        "c = WeComClient.from_settings(load_settings())\n"
        "for _ in range(3): c.get_follow_user_list()\n"
        "print(c.stats['token_fetches'])\n"
    )
    src = str(Path(__file__).resolve().parents[2] / "src")
    env = dict(os.environ, PYTHONPATH=src, SIYU_WECOM_BASE_URL=sb.url, WECOM_CORP_ID=sb.corp_id,
               WECOM_SECRET=sb.secret, SIYU_WORKSPACE=str(workspace))
    procs = [subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(2)]
    outs = [p.communicate(timeout=60) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    assert sorted(int(o[0]) for o in outs) == [0, 1]  # one process fetched, the other reused it from the store
    assert sb.state.counters["gettoken"] == 1
    assert all(sb.secret not in o[0] + o[1] for o in outs)


def test_config_from_siyu_toml(workspace, monkeypatch):
    from siyu_cli.config import load_settings
    from siyu_cli.wecom.config import WeComConfig

    toml = workspace / "siyu.toml"
    toml.write_text(toml.read_text() + '\n[wecom]\nbase_url = "https://proxy.example.cn/"\nsecret_env = "MY_SECRET"\n'
                    'max_retries = 1\n[wecom.rate_limits]\n"/cgi-bin/message/send" = 5\n')
    cfg = WeComConfig.from_settings(load_settings(workspace))
    assert (cfg.base_url, cfg.secret_env, cfg.max_retries) == ("https://proxy.example.cn", "MY_SECRET", 1)
    assert cfg.limit_for("message/send") == 5 and cfg.limit_for("gettoken") == 60
    monkeypatch.setenv("SIYU_WECOM_BASE_URL", "http://127.0.0.1:1234")
    assert WeComConfig.from_settings(load_settings(workspace)).base_url == "http://127.0.0.1:1234"
    toml.write_text(toml.read_text().replace("max_retries = 1", 'max_retries = 1\nsecret = "oops"'))
    with pytest.raises(ConfigError, match="unknown key wecom.secret"):
        WeComConfig.from_settings(load_settings(workspace))


@pytest.mark.parametrize("code", sorted(c for c in errcodes.ERRCODES if c != 0))
def test_every_errcode_follows_its_category(sb, code):
    """Each errcode in the table, injected by the sandbox, gets exactly the handling its category says."""
    client = make_client(sb, max_retries=2)
    client.get_follow_user_list()  # token in hand
    requests_before = sb.state.counters["requests"]
    sb.inject("errcode", "get_follow_user_list", errcode=code)
    category = errcodes.classify(code)
    if category in ("retry", "refresh"):
        assert len(client.get_follow_user_list()) == 3  # one retry (after backoff or a new token) succeeds
        assert client.stats["retries" if category == "retry" else "refreshes"] == 1
    else:
        with pytest.raises(WeComError) as info:
            client.get_follow_user_list()
        assert info.value.errcode == code and info.value.category == category
        expected_exit = ExitCode.CONFIG if errcodes.lookup(code).config else ExitCode.FAILURE
        assert info.value.exit_code == expected_exit
        assert client.stats["retries"] == 0 and client.stats["refreshes"] == 0
    # requests the sandbox processed after the injected answer: the retry, plus gettoken for a refresh
    extra = sb.state.counters["requests"] - requests_before
    assert extra == {"retry": 1, "refresh": 2}.get(category, 0)


def test_transport_statuses(sb):
    client = make_client(sb)
    sb.inject("http", "get_follow_user_list", status=429)  # a proxy throttles: retried
    assert len(client.get_follow_user_list()) == 3
    sb.inject("empty", "get_follow_user_list")  # empty body under load: retried for reads
    assert len(client.get_follow_user_list()) == 3
    assert client.stats["retries"] == 2
    sb.inject("http", "get_follow_user_list", status=404)  # wrong base_url / path: fatal config
    with pytest.raises(WeComError) as info:
        client.get_follow_user_list()
    assert info.value.errcode == errcodes.HTTP_4XX and info.value.exit_code == ExitCode.CONFIG
    sb.inject("http", "add_msg_template", status=429)  # rejected before processing: safe to retry
    client.add_msg_template(chat_type="single", sender="guide01", external_userid=["wmsandbox0001"], text="a")
    sb.inject("empty", "add_msg_template")  # processed, answer lost: ambiguous
    with pytest.raises(AmbiguousSend):
        client.add_msg_template(chat_type="single", sender="guide01", external_userid=["wmsandbox0001"], text="b")
    assert [m["text"] for m in sb.messages()] == ["a", "b"]
