"""``run_segment``: resolve options (flags > siyu.toml [segment] > defaults), measure, score, store a snapshot."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from siyu_cli.errors import ConfigError, UsageError
from siyu_cli.segment import chains
from siyu_cli.segment import measures as M
from siyu_cli.segment import schemes as S
from siyu_cli.i18n import _

if TYPE_CHECKING:  # pragma: no cover
    from siyu_cli.config import Settings

#: Keys of the [segment] table in siyu.toml.
CONFIG_KEYS = ("scheme", "window", "frequency_unit", "monetary", "r_split", "f_split", "m_split", "keep_snapshots",
               "keep_monthly")
BUILTIN_SCHEMES = ("rfm8", "rfm11")


@dataclass
class SegmentRun:
    snapshot_id: int | None  # None: a preview (``save=False``), nothing stored
    scheme: str
    as_of: date
    params: dict[str, Any]
    summary: list[dict[str, Any]]
    pareto: dict[str, Any]
    members: int
    buyers: int
    excluded: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    pruned: list[int] = field(default_factory=list)  # snapshots deleted by [segment] keep_snapshots

    def to_dict(self) -> dict[str, Any]:
        return {
            "snapshot_id": self.snapshot_id,
            "scheme": self.scheme,
            "as_of": self.as_of.isoformat(),
            "members": self.members,
            "buyers": self.buyers,
            "excluded_orders": self.excluded,
            "params": self.params,
            "segments": self.summary,
            "pareto": self.pareto,
            "warnings": self.warnings,
            "pruned_snapshots": self.pruned,
        }


def segment_config(settings: "Settings") -> dict[str, Any]:
    """The [segment] table, with unknown keys refused (a typo would otherwise be silently ignored)."""
    cfg = settings.section("segment")
    for key in cfg:
        if key not in CONFIG_KEYS:
            raise ConfigError(_('{config_file}: unknown key segment.{key} (known: {join})').format(config_file=settings.config_file, key=key, join=', '.join(CONFIG_KEYS)))
    return cfg


def keep_snapshots(settings: "Settings") -> int | None:
    """``[segment] keep_snapshots``: keep this many snapshots per scheme after each run (unset: keep all)."""
    value = segment_config(settings).get("keep_snapshots")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(_('{config_file}: segment.keep_snapshots must be a whole number ≥ 1, not {value!r}').format(config_file=settings.config_file, value=value))
    return value


def keep_monthly(settings: "Settings") -> bool:
    """``[segment] keep_monthly``: with keep_snapshots, older snapshots thin to the last of each month
    instead of going (``siyu segment prune --keep-monthly``; unset: false)."""
    value = segment_config(settings).get("keep_monthly", False)
    if not isinstance(value, bool):
        raise ConfigError(_('{config_file}: segment.keep_monthly must be true or false, not {value!r}').format(config_file=settings.config_file, value=value))
    return value


def resolve_options(settings: "Settings", *, scheme: str | None, as_of, window, options: dict[str, Any]):
    cfg = segment_config(settings)
    unknown = set(options) - {"frequency_unit", "monetary", "r_split", "f_split", "m_split", "label"}
    if unknown:
        raise UsageError(_('run_segment: unknown option(s) {join}').format(join=', '.join(sorted(unknown))))

    def pick(name: str, default: Any) -> Any:
        value = options.get(name)
        return value if value not in (None, "") else cfg.get(name, default)

    scheme_name = scheme or cfg.get("scheme") or "rfm8"
    params = M.MeasureParams(
        as_of=M.parse_as_of(as_of, settings.timezone),
        timezone=settings.timezone,
        window=M.parse_window(window if window not in (None, "") else cfg.get("window")),
        frequency_unit=M.check_choice("frequency_unit", pick("frequency_unit", "orders"), M.FREQUENCY_UNITS),
        monetary=M.check_choice("monetary", pick("monetary", "total"), M.MONETARY_MODES),
    )
    splits = {d: S.parse_split(d, pick(f"{d}_split", S.DEFAULT_SPLITS[d])) for d in "rfm"}
    custom = None
    if scheme_name not in BUILTIN_SCHEMES:
        if not scheme_name.lower().endswith((".yaml", ".yml")):
            raise UsageError(_('--scheme must be rfm8, rfm11 or a .yaml file, not {scheme_name!r}').format(scheme_name=scheme_name))
        custom = S.load_custom_scheme(settings.path(scheme_name) if not Path(scheme_name).is_file() else Path(scheme_name))
    return scheme_name, params, splits, custom, options.get("label")


def run_segment(
    settings: "Settings",
    *,
    scheme: str = "rfm8",
    as_of: date | None = None,
    window: str | None = None,
    save: bool = True,
    then: "Callable[[Any, int], None] | None" = None,
    **options: Any,
) -> SegmentRun:
    """Compute measures, scores and segments as of a date and store them as a new snapshot.

    ``save=False`` previews: the store is opened read-only and the run goes into TEMP tables that
    shadow ``segment_snapshots``/``segment_members`` on that connection only, so the same summary
    and export code reads it and nothing is written (``siyu segment`` without ``run``/``--save``).
    ``then(con, snapshot_id)`` runs on that connection before it closes (e.g. the per-member export).

    ``scheme`` is ``rfm8``, ``rfm11`` or a custom scheme YAML path (None: siyu.toml, else rfm8).
    ``options``: frequency_unit (orders|days), monetary (total|average), r_split/f_split/m_split
    (rfm8: median|mean|q0.8|<number>), label (free text stored with the snapshot).
    """
    from siyu_cli.segment.snapshots import pareto, summarize
    from siyu_cli.store import open_store

    scheme_name, params, splits, custom, label = resolve_options(
        settings, scheme=scheme, as_of=as_of, window=window, options=options
    )
    keep, monthly = keep_snapshots(settings), keep_monthly(settings)  # checked on previews too
    keep = keep if save else None
    from siyu_cli.engine import spark_runner

    runner = spark_runner(settings)  # [engine] kind = "spark": the order scan runs there (started before the store opens)
    with open_store(settings, read_only=not save) as con:
        if not save:
            chains.shadow_tables(con)
        # One scan of orders into a per-buyer temp table; the scheme's SELECT joins the members
        # without a purchase in and is inserted straight into segment_members.
        if runner is not None:
            runner.shadow_members(con)
        stats = M.build_buyers(con, params, "seg_buyers", runner)
        stored_scheme = scheme_name if custom is None else f"custom:{custom['name']}"
        snapshot_id, info, all_params = _store_snapshot(
            con, stats, params, scheme_name, stored_scheme, splits, custom, label, continue_chain=save
        )
        if runner is not None:
            runner.unshadow_members(con)
        summary = summarize(con, snapshot_id, all_params)
        curve = pareto(con, table="seg_buyers")
        con.execute("DROP TABLE IF EXISTS seg_buyers")
        if then is not None:
            then(con, snapshot_id)
        pruned: list[int] = []
        if keep is not None:  # automatic retention, same rules as `siyu segment prune --keep-last`
            from siyu_cli.segment.prune import prune_with

            pruned = prune_with(con, today=M.parse_as_of(None, settings.timezone), keep_last=keep,
                                scheme=stored_scheme, keep_monthly=monthly).deleted
    return SegmentRun(
        snapshot_id=int(snapshot_id) if save else None,
        scheme=stored_scheme,
        as_of=params.as_of,
        params=all_params,
        summary=summary,
        pareto=curve,
        members=int(stats.members),
        buyers=int(stats.buyers),
        excluded=stats.excluded,
        warnings=list(info.get("warnings", [])),
        pruned=pruned,
    )


def _store_snapshot(con, stats, params, scheme_name: str, stored_scheme: str, splits, custom, label, *,
                    continue_chain: bool = True):
    """Score ``seg_buyers`` with the scheme and insert the snapshot and its members in one transaction,
    so a failed scheme leaves no half-written snapshot. Returns (snapshot_id, scheme info, stored params).

    The rows continue the chain of the previous snapshot with the same settings when there is one
    (only changed members are stored: :mod:`siyu_cli.segment.chains`); a preview stores them all."""
    con.execute("BEGIN TRANSACTION")
    try:
        snapshot_id = con.execute("SELECT coalesce(max(snapshot_id), 0) + 1 FROM segment_snapshots").fetchone()[0]
        key = chains.chain_key(params, stored_scheme, splits, custom)
        prev = chains.chain_to_continue(con, stored_scheme, key, params.as_of) if continue_chain else None
        chain_id = None

        def emit(select_sql: str, bind: dict | None = None) -> None:
            nonlocal chain_id
            stats.members, chain_id = chains.store_rows(con, snapshot_id, select_sql, bind or {}, prev, params.as_of)

        if scheme_name == "rfm8":
            info = S.rfm8_assign(con, "seg_buyers", emit, splits)
        elif scheme_name == "rfm11":
            info = S.rfm11_assign(con, "seg_buyers", emit)
        else:
            info = S.custom_assign(con, "seg_buyers", emit, custom)
        all_params = {
            **params.to_dict(),
            **info,
            "scheme": stored_scheme,
            "buyers": stats.buyers,
            "excluded_orders": stats.excluded,
        }
        con.execute(
            """INSERT INTO segment_snapshots (snapshot_id, created_at, as_of, scheme, params, members, label, chain_id,
                                              chain_key) VALUES (?, now(), ?, ?, ?, ?, ?, ?, ?)""",
            [snapshot_id, params.as_of, stored_scheme, json.dumps(all_params, ensure_ascii=False), stats.members, label,
             chain_id, key],
        )
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    return snapshot_id, info, all_params
