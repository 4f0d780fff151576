"""Benchmark: render a week of the coffee example for N groups, against bare Jinja2.

Run by hand (never in the test suite):

    PYTHONPATH=src python benchmarks/plan.py [--groups 2000] [--repeat 3]

Baseline: the same templates compiled by a plain ``jinja2.Environment`` and
rendered with the same per-message contexts, without the sandbox, rules,
stagger, time zones or attachments. The ratio is what siyu's safety and
scheduling cost on top of "just rendering the text". ICS export is timed too.
"""

from __future__ import annotations

import argparse
import time
from datetime import timedelta
from pathlib import Path

from siyu_cli.plan.export import week_to_ics, week_to_json
from siyu_cli.plan.render import Target, render_week, target_context
from siyu_cli.plan.schema import load_playbook
from siyu_cli.plan.templates import WeekInfo, cn_date, money, slot_context

ROOT = Path(__file__).resolve().parents[1]


def best_of(repeat: int, fn):
    best, result = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--groups", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    pb = load_playbook(ROOT / "playbooks" / "coffee-week.yaml")
    targets = [Target(f"wr{i:05d}", f"门店{i // 10}第{i % 10 + 1}群", store=f"门店{i // 10}", city="北京",
                      owner=f"guide{i // 10}", tags=("咖啡群",)) for i in range(args.groups)]
    week = WeekInfo.of(2026, 48)

    siyu_s, plan = best_of(args.repeat, lambda: render_week(pb, targets, week))

    # the same, with the render budget (siyu_cli.templating.render_bounded) swapped for a plain render()
    import siyu_cli.plan.templates as T

    bounded = T.render_bounded
    T.render_bounded = lambda template, context: template.render(context)
    try:
        unbudgeted_s, _ = best_of(args.repeat, lambda: render_week(pb, targets, week))
    finally:
        T.render_bounded = bounded

    import jinja2

    env = jinja2.Environment(autoescape=False, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(cn_date=cn_date, money=money)
    compiled = {s.id: env.from_string(s.template.text) for s in pb.slots}
    values = pb.with_variables(None)

    def bare():
        out = []
        for g in targets:
            gctx = target_context(g)
            for s in pb.slots:
                ctx = slot_context(pb, s, gctx, week, week.start + timedelta(days=s.weekday), values)
                out.append(compiled[s.id].render(ctx).strip())
        return out

    bare_s, texts = best_of(args.repeat, bare)
    assert sorted(texts) == sorted(m.text for m in plan.messages), "same texts either way"
    ics_s, ics = best_of(args.repeat, lambda: week_to_ics(plan))
    json_s, _ = best_of(args.repeat, lambda: week_to_json(plan))

    n = len(plan.messages)
    print(f"groups={args.groups} slots={len(pb.slots)} messages={n} (best of {args.repeat})")
    print(f"siyu render_week      {siyu_s:8.3f} s  {n / siyu_s:10.0f} msg/s")
    print(f"  without the budget  {unbudgeted_s:8.3f} s  {n / unbudgeted_s:10.0f} msg/s"
          f"  (budget costs {siyu_s / unbudgeted_s:.2f}x)")
    print(f"bare jinja2 baseline  {bare_s:8.3f} s  {n / bare_s:10.0f} msg/s")
    print(f"ratio siyu/bare       {siyu_s / bare_s:8.2f}x")
    print(f"ICS export            {ics_s:8.3f} s  ({len(ics.encode()) / 1e6:.1f} MB)")
    print(f"JSON export           {json_s:8.3f} s")


if __name__ == "__main__":
    main()
