"""Playbook checking: every problem reported with file:line:col and a hint; templates sandboxed."""

from __future__ import annotations

from pathlib import Path

import pytest

from siyu_cli.errors import DataError
from siyu_cli.plan.schema import check_playbook, load_playbook, parse_playbook, parse_time, parse_weekdays

VALID = """\
version: 1
name: test-week
title: 测试周计划
timezone: Asia/Shanghai
targets:
  all: true
variables:
  product: 拿铁
  price: 12.5
rules:
  daily_limit: 2
  quiet_hours: "22:00-08:00"
  stagger_minutes: 2
week:
  - id: mon-morning
    weekday: 周一
    time: "08:30"
    kind: 早安
    template: |
      早上好 {{ group.name }}
      今日 {{ product }} {{ price | money }}
"""


def write(tmp_path: Path, text: str, name: str = "pb.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def lines_of(problems, severity="error"):
    return [(p.line, p.col) for p in problems if p.severity == severity]


def test_valid_playbook_has_no_problems(tmp_path):
    path = write(tmp_path, VALID)
    assert check_playbook(path) == []
    pb = load_playbook(path)
    assert pb.name == "test-week" and pb.title == "测试周计划"
    assert [s.id for s in pb.slots] == ["mon-morning"]
    assert pb.rules.daily_limit == 2 and pb.rules.stagger_minutes == 2
    assert pb.variables == {"product": "拿铁", "price": 12.5}


def test_unknown_keys_are_reported_with_closest_suggestion_and_position(tmp_path):
    text = VALID.replace("  stagger_minutes: 2", "  stager_minutes: 2").replace("    kind: 早安", "    knid: 早安")
    text = text.replace("title: 测试周计划", "titel: 测试周计划")
    problems = check_playbook(write(tmp_path, text))
    by_line = {p.line: p for p in problems}
    assert set(by_line) == {3, 13, 18}
    assert "unknown key `titel`" in by_line[3].message and "`title`" in by_line[3].message
    assert by_line[3].col == 1
    assert "`stagger_minutes`" in by_line[13].message and by_line[13].col == 3
    assert "`kind`" in by_line[18].message and by_line[18].col == 5
    assert all(p.hint for p in problems)


def test_bad_weekday_and_time(tmp_path):
    text = VALID.replace("weekday: 周一", "weekday: 周八").replace('time: "08:30"', 'time: "25:61"')
    problems = check_playbook(write(tmp_path, text))
    assert lines_of(problems) == [(16, 14), (17, 11)]
    assert "bad weekday" in problems[0].message
    assert "bad time" in problems[1].message and "HH:MM" in problems[1].hint


def test_unquoted_times_are_not_misread_as_base60_numbers(tmp_path):
    # YAML 1.1 reads 8:30 as the integer 510; the playbook must still mean 08:30
    pb = load_playbook(write(tmp_path, VALID.replace('time: "08:30"', "time: 8:30")))
    assert pb.slots[0].at.hour == 8 and pb.slots[0].at.minute == 30


def test_slot_in_quiet_hours(tmp_path):
    problems = check_playbook(write(tmp_path, VALID.replace('time: "08:30"', 'time: "23:15"')))
    assert lines_of(problems) == [(17, 11)]
    assert "quiet hours" in problems[0].message


def test_more_slots_than_the_daily_limit(tmp_path):
    extra = """\
  - weekday: mon
    time: "12:00"
    template: 午安
  - weekday: 1
    time: "18:00"
    template: 晚上好
"""
    problems = check_playbook(write(tmp_path, VALID + extra))
    # the third Monday message (week[2], line 25) is the one over the limit of 2
    assert lines_of(problems) == [(25, 5)]
    assert "周一 has 3 group messages" in problems[0].message and "daily_limit is 2" in problems[0].message


def test_template_syntax_error_points_at_the_templates_own_line(tmp_path):
    text = VALID.replace("今日 {{ product }} {{ price | money }}", "今日 {{ product }} {% if %}")
    problems = check_playbook(write(tmp_path, text))
    assert lines_of(problems) == [(21, 7)]
    assert "template syntax error" in problems[0].message


def test_template_file_syntax_error_points_into_that_file(tmp_path):
    (tmp_path / "t.j2").write_text("第一行\n第二行 {{ product \n", encoding="utf-8")
    text = VALID.replace("    template: |\n      早上好 {{ group.name }}\n      今日 {{ product }} {{ price | money }}\n",
                         "    template_file: t.j2\n")
    problems = check_playbook(write(tmp_path, text))
    assert len(problems) == 1
    assert problems[0].file == str(tmp_path / "t.j2") and problems[0].line == 2


def test_undefined_variables_caught_at_check_time(tmp_path):
    text = VALID.replace("今日 {{ product }}", "今日 {{ prodcut }} {{ coupon }}")
    problems = check_playbook(write(tmp_path, text))
    msgs = sorted(p.message for p in problems)
    assert msgs == ["template uses `coupon`, which nobody defines", "template uses `prodcut`, which nobody defines"]
    assert {p.line for p in problems} == {21}
    assert any("did you mean `product`" in p.hint for p in problems)
    # a --var / --vars value defines it
    assert check_playbook(write(tmp_path, text), variables={"prodcut": "x", "coupon": "C1"}) == []


def test_attribute_typo_caught_by_trial_render(tmp_path):
    problems = check_playbook(write(tmp_path, VALID.replace("group.name", "group.nmae")))
    assert len(problems) == 1 and problems[0].line == 20
    assert "nmae" in problems[0].message


@pytest.mark.parametrize(
    "expr",
    [
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ group.__class__.__init__.__globals__ }}",
        "{{ product.__class__ }}",
        "{{ cycler.__init__.__globals__.os }}",
        "{{ 'x' * 1000000000 }}",
        "{{ 2 ** 100000000 }}",
        "{% for i in range(10 ** 9) %}{% endfor %}",
    ],
)
def test_sandbox_escapes_are_refused(tmp_path, expr):
    text = VALID.replace("早上好 {{ group.name }}", "早上好 " + expr)
    problems = check_playbook(write(tmp_path, text))
    assert len(problems) == 1 and problems[0].line == 20
    assert "sandbox" in problems[0].message or "template failed" in problems[0].message
    with pytest.raises(DataError):
        load_playbook(write(tmp_path, text))


def test_sandbox_refuses_mutation_at_render(tmp_path):
    from siyu_cli.plan.render import Target, render_week
    from siyu_cli.plan.templates import TemplateError

    pb, problems = parse_playbook(write(tmp_path, VALID.replace("早上好 {{ group.name }}", "{{ group.tags.append(1) }}")))
    with pytest.raises(TemplateError) as info:
        render_week(pb, [Target("g1", "群1", tags=[])], "2026-W48")
    assert "sandbox" in info.value.message and "group g1" in info.value.message
    assert info.value.exit_code == 65


def test_missing_attachment_file_and_too_many_attachments(tmp_path):
    (tmp_path / "ok.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(16))
    atts = "    attachments:\n" + "".join("      - image: ok.png\n" for _ in range(9)) + "      - image: nope.png\n"
    problems = check_playbook(write(tmp_path, VALID + atts))
    assert lines_of(problems) == [(23, 7), (32, 16)]
    assert "at most 9" in problems[0].message
    assert "nope.png does not exist" in problems[1].message


def test_all_problems_reported_at_once(tmp_path):
    text = """\
version: 2
name: Bad Name
timezone: Mars/Base
rules:
  daily_limit: 0
  quiet_hours: late
targets: {tag: [x]}
week:
  - weekday: someday
    time: noon
    channel: groop
    template: "{{ x"
sop:
  anchor: member_joined
  steps:
    - day: -3
      condition: bought
      template: hi
"""
    problems = check_playbook(write(tmp_path, text))
    got = lines_of(problems)
    assert got == [(1, 10), (2, 7), (3, 11), (5, 16), (6, 16), (7, 10), (7, 11), (9, 14), (10, 11), (11, 14), (12, 16),
                   (13, 1), (14, 11), (16, 12), (17, 18)]
    assert all(p.format().startswith(f"{p.file}:{p.line}:{p.col}: error: ") for p in problems)


def test_yaml_syntax_error_and_duplicate_keys(tmp_path):
    problems = check_playbook(write(tmp_path, "version: 1\nname: x\n  bad: [\n"))
    assert len(problems) == 1 and "YAML syntax error" in problems[0].message and problems[0].line == 3
    problems = check_playbook(write(tmp_path, VALID.replace("title: 测试周计划", "title: 测试周计划\nname: again")))
    assert lines_of(problems) == [(4, 1)] and "duplicate key `name`" in problems[0].message


def test_weekday_and_time_parsing():
    assert parse_weekdays("周日") == (6,) and parse_weekdays("7") == (6,) and parse_weekdays("Mon") == (0,)
    assert parse_weekdays("工作日") == (0, 1, 2, 3, 4) and parse_weekdays(["sat", "周日"]) == (5, 6)
    assert parse_weekdays("每天") == tuple(range(7)) and parse_weekdays("8") is None
    assert parse_time("7:05").minute == 5 and parse_time("24:00") is None and parse_time(480) is None


def test_cli_check_exit_codes_and_output(cli, tmp_path):
    good = write(tmp_path, VALID, "good.yaml")
    bad = write(tmp_path, VALID.replace("weekday: 周一", "weekday: 周八"), "bad.yaml")
    res = cli("plan", "check", good)
    assert res.stdout == ""
    res = cli("plan", "check", good, bad, expect=65)
    assert f"{bad}:16:14: error: bad weekday" in res.stdout
    assert "hint:" in res.stdout
    res = cli("plan", "check", bad, "--format", "json", expect=65)
    import json

    doc = json.loads(res.stdout)
    assert doc["errors"] == 1 and doc["problems"][0]["line"] == 16


def test_cli_check_in_a_real_subprocess(siyu_subprocess, tmp_path):
    bad = write(tmp_path, VALID.replace("{{ product }}", "{{ nope }}"), "bad.yaml")
    res = siyu_subprocess("plan", "check", bad, cwd=tmp_path)
    assert res.returncode == 65
    assert f"{bad}:21:" in res.stdout and "Traceback" not in res.stderr


def test_targets_must_select_something(tmp_path):
    text = VALID.replace("targets:\n  all: true\n", "targets:\n  fallback:\n    - {id: g1, name: 群一}\n")
    problems = check_playbook(write(tmp_path, text))
    assert lines_of(problems) == [(6, 3)] and "selects no group" in problems[0].message


def test_vars_file_and_var_override(cli, tmp_path):
    path = write(tmp_path, VALID.replace("targets:\n  all: true\n",
                                         "targets:\n  all: true\n  fallback:\n    - {id: g1, name: 群一}\n"))
    (tmp_path / "v.yaml").write_text("product: 美式\nprice: 9\n", encoding="utf-8")
    res = cli("plan", "week", path, "--week", "2026-W48", "--vars", tmp_path / "v.yaml", "--var", "price=8.8",
              "--format", "csv")
    assert "今日 美式 ¥8.80" in res.stdout


def test_undefined_names_reported_even_in_a_broken_slot(tmp_path):
    text = VALID.replace("weekday: 周一", "weekday: 周八").replace("{{ product }}", "{{ prodcut }}")
    problems = check_playbook(write(tmp_path, text))
    assert [(p.line, p.message) for p in problems] == [
        (16, "bad weekday '周八'"), (21, "template uses `prodcut`, which nobody defines")]


@pytest.mark.zh
def test_template_errors_read_chinese(tmp_path):
    """A template error is a message an operator reads: Chinese by default, still at the template's own line."""
    text = VALID.replace("今日 {{ product }} {{ price | money }}", "今日 {{ product }} {% if %}")
    problems = check_playbook(write(tmp_path, text))
    assert lines_of(problems) == [(21, 7)]
    assert "模板语法错误" in problems[0].message and "template syntax error" not in problems[0].message
