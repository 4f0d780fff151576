"""Creating a workspace: ``siyu.toml``, the folders, and the example playbooks."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from siyu_cli.config import CONFIG_FILE
from siyu_cli.errors import ConfigError
from siyu_cli.i18n import _

CONFIG_TEMPLATE = """\
# siyu workspace settings. Precedence: command-line flag > environment > this file > defaults.
# Docs: README.md ("Configuration"). Secrets never go here: name the environment variable instead.

[workspace]
store = "siyu.duckdb"          # the DuckDB store, relative to this folder
timezone = "{timezone}"      # export times without an offset are read in this zone
currency = "CNY"
language = "{language}"                # labels: zh (中文) or en

[load]
max_reject_ratio = 0.01       # nightly: a file with a larger share of bad rows makes the run partial (exit 3); its good rows load
# max_rejects = 0              # `siyu load` exits 65 beyond this many bad rows (default 0); nightly: cap per file (default 1000)
# memory_limit = "1600MB"      # DuckDB spills to a temp folder beyond this, so huge exports load in bounded memory
# inbox = "inbox"              # where `siyu run nightly` picks up new exports

# Custom column mappings for back-offices siyu has no preset for. Use with `siyu load orders --preset my_pos FILE`.
# [mappings.my_pos]
# kind = "orders"
# source = "pos"
# [mappings.my_pos.columns]
# order_id = ["单据号", "小票号"]
# paid_at = "销售时间"
# paid_amount = "实收金额"
# phone = "会员手机"
# store = "门店"

# RFM segments (`siyu segment`; docs/segment.md). Command-line flags win over these.
# Add your keys to this table (TOML refuses a second [segment] table).
[segment]
keep_snapshots = 90            # snapshot retention: after each run keep the newest 90 snapshots per scheme
keep_monthly = true            # ...and of the older ones the last of each month (comment both out to keep all)
# scheme = "rfm8"              # rfm8 (A–H) | rfm11 (quintiles, 11 names) | path/to/scheme.yaml
# window = "365d"              # default: all history
# frequency_unit = "orders"    # orders | days (distinct purchase days)
# monetary = "total"           # total | average
# r_split = "median"           # rfm8 splits: median | mean | q0.8 | a fixed number (R ≤ days, F ≥ n, M ≥ amount)
# f_split = "2"
# m_split = "median"

# [report]                     # `siyu report` (definitions: docs/report.md)
# period_days = 365            # default period: this many days ending today
# active_days = 90             # last order ≤ 90 days before the period's end: active; ≤ churn_days: silent
# churn_days = 180             # more than this: churned (流失)
# campaign_days = 7            # repurchase window after a campaign message
# head_percent = 20            # the "20%" of the 80/20 rule
# cohort_months = 12           # at most this many join-month cohorts

# [wecom]                                       # docs/wecom.md
# base_url = "https://qyapi.weixin.qq.com"      # or the sandbox (`siyu sandbox serve`); env SIYU_WECOM_BASE_URL wins
# corp_id_env = "WECOM_CORP_ID"                 # names of environment variables, never values
# secret_env = "WECOM_SECRET"                   # WECOM_SECRET_FILE may name a 0600 file instead
# robot_key_env = "WECOM_ROBOT_KEY"             # group-robot webhook key
# agent_id = 1000002                            # app id for app messages to staff
# timeout = 10                                  # seconds per request
# max_retries = 3                               # for retryable errcodes (-1, 45009, 45033, 41063), with backoff
# [wecom.rate_limits]                           # client-side calls per minute per endpoint (0 = off)
# "externalcontact/add_msg_template" = 600

# Playbooks in playbooks/ are sent only when enabled here (`siyu plan enable NAME`, `siyu plan list`).
# The examples `siyu init` copies are inactive until you enable them. docs/playbooks.md
[plan]
enabled = []

# The send budget across every playbook and campaign, checked at creation and again at send time (docs/push.md).
# [push]
# platform_cap = "days/month"   # WeCom's per-customer/per-group mass-send limit: N/day|week|month ("days" = days in the month)
# cap = "2/week"                # at most 2 1v1 mass messages per customer per week ("" = off)
# group_cap = "3/day"           # at most 3 posts per customer group per day ("" = off)
# quiet_hours = "22:00-08:00"   # no customer/group mass-send starts in this window ("" = off)
# batch_size = 10000            # external_userid per add_msg_template call (≤ 10000); group_batch_size ≤ 2000

# [templates]                  # budget of one playbook/push template render (docs/playbooks.md)
# render_seconds = 1.0         # wall time
# max_output_bytes = 100000    # output, and the largest text/list one operation may build
# max_range = 10000            # items range(), batch and slice may produce
# memory_mb = 512              # memory a render may add (0 = no limit)

# [engine]                     # where segment/clv scan the orders (docs/scale.md); default duckdb (this store)
# kind = "spark"               # needs pip install 'siyu-cli[spark]' and Java 17/21
# master = "local[*]"          # spark://host:7077 | yarn | k8s://… | sc://host:15002 (Spark Connect)
# orders = "lake/orders"       # Parquet folder or table:db.orders (`siyu export lake lake` writes one)
# members = "lake/members"
"""


@dataclass
class InitResult:
    root: Path
    config: Path
    created: list[Path] = field(default_factory=list)
    playbooks: list[Path] = field(default_factory=list)


def example_playbooks_dir() -> Path | None:
    """The example playbooks shipped with siyu (``playbooks/`` in the source tree)."""
    here = Path(__file__).resolve()
    for candidate in (here.parent / "data" / "playbooks", here.parents[2] / "playbooks"):
        if candidate.is_dir():
            return candidate
    return None


def init_workspace(
    directory: Path,
    *,
    timezone: str = "Asia/Shanghai",
    language: str = "zh",
    force: bool = False,
) -> InitResult:
    """Create a workspace in ``directory`` (created if needed); refuse to overwrite one."""
    root = Path(directory).expanduser().resolve()
    config = root / CONFIG_FILE
    if config.exists() and not force:
        raise ConfigError(_('{config} already exists (a workspace is here; use --force to rewrite siyu.toml)').format(config=config))
    root.mkdir(parents=True, exist_ok=True)
    result = InitResult(root=root, config=config)
    config.write_text(CONFIG_TEMPLATE.format(timezone=timezone, language=language), encoding="utf-8")
    result.created.append(config)
    for sub in ("inbox", "reports"):
        (root / sub).mkdir(exist_ok=True)
    from siyu_cli.privacy import ensure_key_file

    ensure_key_file(root)  # the id key of pseudonymous member ids (0600; never printed)
    source = example_playbooks_dir()
    if source is not None:
        target = root / "playbooks"
        for path in sorted(source.rglob("*")):
            if path.is_file():
                dest = target / path.relative_to(source)
                if dest.exists() and not force:
                    continue
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, dest)
                result.playbooks.append(dest)
    return result
