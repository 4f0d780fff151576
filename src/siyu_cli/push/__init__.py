"""WeCom push: campaigns, the exactly-once ledger, policy, opt-outs and push_due.

Library API (the CLI in ``siyu_cli.cli.push`` is a thin layer over it)::

    create_campaign(settings, CampaignSpec(...), dry_run=False) -> preview dict
    preview(settings, campaign_id) -> dict
    send_campaign(settings, campaign_id, client=None) -> SendReport   # also resumes
    sync_status(settings, campaign_id, client=None) -> dict
    remind(settings, campaign_id, ...), cancel(settings, campaign_id, ...)
    push_due(settings, start, end, *, playbooks=None, send=True, client=None, now=None) -> DueReport
"""

from __future__ import annotations

from siyu_cli.push.campaigns import CampaignSpec, create_campaign, list_campaigns, preview
from siyu_cli.push.due import DueReport, push_due
from siyu_cli.push.optouts import add_optouts, import_optouts, list_optouts, remove_optouts
from siyu_cli.push.sender import SendReport, cancel, remind, send_campaign, sync_status

__all__ = [
    "CampaignSpec", "create_campaign", "list_campaigns", "preview", "DueReport", "push_due",
    "add_optouts", "import_optouts", "list_optouts", "remove_optouts",
    "SendReport", "cancel", "remind", "send_campaign", "sync_status",
]
