"""RFM segmentation: measures in DuckDB SQL, rfm8 / rfm11 / custom schemes, stored snapshots.

Library API used by other areas (see ARCHITECTURE.md):
``run_segment(settings, *, scheme, as_of, window, **options) -> SegmentRun``,
``latest_snapshot_id(con, scheme=None)``, ``audience(settings, segment, snapshot_id=None)`` and
``prune_snapshots(settings, *, keep_last=None, older_than=None, scheme=None, keep_monthly=False, dry_run=False)``.
"""

from siyu_cli.segment.run import SegmentRun, run_segment
from siyu_cli.segment.prune import PruneResult, prune_snapshots
from siyu_cli.segment.audience import audience
from siyu_cli.segment.snapshots import latest_snapshot_id

__all__ = ["SegmentRun", "run_segment", "latest_snapshot_id", "audience", "PruneResult", "prune_snapshots"]
