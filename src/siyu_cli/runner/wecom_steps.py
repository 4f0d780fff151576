"""Pipeline steps ``sync`` (siyu sync wecom) and ``tags`` (siyu tags sync) for `siyu run`.

The default ``nightly`` pipeline gains ``sync`` before ``segment`` when siyu.toml has a ``[wecom]``
section, and ``tags`` after ``segment`` when ``[wecom.tags]`` is enabled (runner/pipeline.py).
They live in ``runner/`` because they adapt ``sync/`` to the runner, not the other way round.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from siyu_cli.runner.model import StepContext


def wecom_configured(settings) -> bool:
    return bool(settings.section("wecom"))


def tags_enabled(settings) -> bool:
    from siyu_cli.sync.tags import TagConfig

    return wecom_configured(settings) and TagConfig.from_settings(settings).enabled


def step_sync(ctx: "StepContext") -> dict[str, Any]:
    """Pull WeCom contacts, groups, tags and activity (options: activity = false, activity_days = N)."""
    if ctx.dry_run:
        return {"source": "wecom"}
    from siyu_cli.sync.wecom import sync_wecom

    r = sync_wecom(ctx.settings, activity=bool(ctx.option("activity", True)), activity_days=ctx.option("activity_days"))
    return {"batch_id": r.batch_id, "resumed": r.resumed, "relations": r.counts["contacts"], "events": r.events,
            "linked": r.linked.get("linked", 0), "new_members": r.linked.get("new_members", 0), "api_calls": r.calls}


def step_tags(ctx: "StepContext") -> dict[str, Any]:
    """Write the latest segment snapshot as corp tags (options: scheme, group)."""
    from siyu_cli.sync.tags import tags_sync

    r = tags_sync(ctx.settings, scheme=ctx.option("scheme"), group=ctx.option("group"), dry_run=ctx.dry_run)
    return {"group": r.group, "planned": r.planned, "done": r.done, "skipped": r.skipped, "failed": r.failed,
            "resumed": r.resumed, "api_calls": r.calls}
