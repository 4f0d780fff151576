"""Workspace discovery, siyu.toml validation and the flag > env > file > default precedence."""

from __future__ import annotations

import pytest

from siyu_cli.config import find_workspace, load_settings
from siyu_cli.errors import ConfigError, ExitCode
from siyu_cli.workspace import init_workspace


def test_found_from_a_subfolder(tmp_path):
    init_workspace(tmp_path / "ws")
    deep = tmp_path / "ws" / "a" / "b"
    deep.mkdir(parents=True)
    assert find_workspace(env={}, cwd=deep) == (tmp_path / "ws").resolve()


def test_missing_workspace_is_one_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="no siyu workspace"):
        find_workspace(env={}, cwd=tmp_path)


def test_env_workspace_must_exist(tmp_path):
    with pytest.raises(ConfigError, match="SIYU_WORKSPACE"):
        find_workspace(env={"SIYU_WORKSPACE": str(tmp_path / "nope")}, cwd=tmp_path)


def test_precedence_flag_env_file_default(tmp_path):
    root = tmp_path / "ws"
    init_workspace(root)
    cfg = root / "siyu.toml"
    cfg.write_text('[workspace]\ntimezone = "Europe/Berlin"\n', encoding="utf-8")

    s = load_settings(root, env={})
    assert (s.timezone, s.sources["timezone"]) == ("Europe/Berlin", "siyu.toml")
    assert (s.currency, s.sources["currency"]) == ("CNY", "default")

    s = load_settings(root, env={"SIYU_TIMEZONE": "America/New_York"})
    assert (s.timezone, s.sources["timezone"]) == ("America/New_York", "env SIYU_TIMEZONE")

    s = load_settings(root, env={"SIYU_TIMEZONE": "America/New_York"}, overrides={"timezone": "UTC"})
    assert (s.timezone, s.sources["timezone"]) == ("UTC", "flag")


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("[workspace]\ntimezon = 'UTC'\n", "unknown key workspace.timezon (did you mean `timezone`?)"),
        ("[workspac]\n", "unknown section [workspac] (did you mean `workspace`?)"),
        ("[workspace]\ntimezone = 'Mars/Olympus'\n", "'Mars/Olympus' is not a known time zone"),
        ("[workspace]\nlanguage = 'fr'\n", "workspace.language must be one of zh, en"),
        ("[workspace\n", "invalid TOML"),
        ("[workspace]\ntimezone = 8\n", "workspace.timezone must be a string"),
    ],
)
def test_invalid_config_names_file_and_key(tmp_path, text, fragment):
    root = tmp_path / "ws"
    init_workspace(root)
    (root / "siyu.toml").write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_settings(root, env={})
    assert fragment in str(info.value)
    assert "siyu.toml" in str(info.value)


def test_cli_config_error_is_one_line_and_exit_78(workspace, cli):
    (workspace / "siyu.toml").write_text("[workspace]\nstor = 'x'\n", encoding="utf-8")
    result = cli("tables", expect=ExitCode.CONFIG)
    assert result.stderr.strip().count("\n") == 0
    assert result.stderr.startswith("error: ") and "workspace.stor" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_flag_beats_env(workspace, cli, monkeypatch):
    monkeypatch.setenv("SIYU_TIMEZONE", "America/New_York")
    out = cli("--timezone", "UTC", "config", "--format", "json").stdout
    assert '"value": "UTC"' in out and '"source": "flag"' in out


def test_init_refuses_to_overwrite(tmp_path, cli):
    cli("init", tmp_path / "w1")
    assert (tmp_path / "w1" / "siyu.toml").is_file()
    result = cli("init", tmp_path / "w1", expect=ExitCode.CONFIG)
    assert "already exists" in result.stderr
    cli("init", tmp_path / "w1", "--force")
