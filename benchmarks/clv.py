"""Benchmark `siyu clv` (DuckDB measures + pymc-marketing MAP fit + predictions + store) against lifetimes.

Run by hand (never in tests), with the clv and bench extras installed (``pip install -e '.[clv,bench]'``):

    PYTHONPATH=src .venv/bin/python benchmarks/clv.py --orders 10000000 --members 2000000
    PYTHONPATH=src .venv/bin/python benchmarks/clv.py --orders 1000000 --members 200000   # shared box

Data: benchmarks/segment.py's generator (skewed member activity over two years; 92 % paid). Each
measurement runs in its own subprocess so peak RSS (VmHWM) is its own:

* measures   — only :func:`siyu_cli.clv.measures.build_summary` and pulling the four arrays into numpy:
               the DuckDB part of ``siyu clv``.
* siyu       — the whole ``run_clv``: measures, fit (BG/NBD + Gamma-Gamma, MAP), predictions (P(alive),
               30/90-day purchases, spend, 12-month CLV) and the store write; its own split is reported.
* lifetimes  — ``BetaGeoFitter`` + ``GammaGammaFitter`` (the library pymc-marketing succeeded) fitted on the
               *same* per-buyer summary (read from an .npz written beforehand, not counted), then the same
               predictions. The baseline for the fit part.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SRC = HERE.parent / "src"
AS_OF = "2026-06-30"
sys.path.insert(0, str(HERE))
from segment import generate, peak_rss_mb  # noqa: E402  (the same data as the segment benchmark)


def worker(kind: str, workspace: Path, npz: Path) -> dict:
    sys.path.insert(0, str(SRC))
    from datetime import date

    from siyu_cli.config import load_settings

    settings = load_settings(workspace)
    start = time.perf_counter()
    extra: dict = {}
    if kind == "measures":
        import numpy as np

        from siyu_cli.clv.measures import build_summary
        from siyu_cli.store import open_store

        with open_store(settings) as con:
            n = build_summary(con, date.fromisoformat(AS_OF), settings.timezone)
            arrays = con.execute("SELECT frequency, recency_days, t_days, coalesce(avg_repeat_spend, 0) AS m "
                                 "FROM clv_summary ORDER BY idx").fetchnumpy()
        extra["buyers"] = n
        seconds = time.perf_counter() - start
        np.savez(npz, **{k: np.asarray(v) for k, v in arrays.items()})
    elif kind == "siyu":
        from siyu_cli.clv import run_clv

        run = run_clv(settings, as_of=AS_OF)
        seconds = time.perf_counter() - start
        extra = {"split": run.seconds, "bgnbd": run.params["bgnbd"], "gamma_gamma": run.params["gamma_gamma"],
                 "buyers": run.buyers, "repeat_buyers": run.repeat_buyers}
    elif kind == "lifetimes":
        import numpy as np
        import pandas as pd
        from lifetimes import BetaGeoFitter, GammaGammaFitter

        z = np.load(npz)
        df = pd.DataFrame({"frequency": z["frequency"].astype(float), "recency": z["recency_days"] / 7.0,
                           "T": z["t_days"] / 7.0, "m": z["m"].astype(float)})
        start = time.perf_counter()  # the summary is given: only the fit and predictions are timed
        bg = BetaGeoFitter().fit(df["frequency"], df["recency"], df["T"])
        rep = df[df["frequency"] > 0]
        gg = GammaGammaFitter().fit(rep["frequency"], rep["m"])
        fit_s = time.perf_counter() - start
        bg.conditional_probability_alive(df["frequency"], df["recency"], df["T"])
        for days in (30, 90):
            bg.conditional_expected_number_of_purchases_up_to_time(days / 7, df["frequency"], df["recency"], df["T"])
        spend = gg.conditional_expected_average_profit(df["frequency"], df["m"].where(df["frequency"] > 0, 0))
        gg.customer_lifetime_value(bg, df["frequency"], df["recency"], df["T"], spend, time=12, discount_rate=0.0,
                                   freq="W")
        seconds = time.perf_counter() - start
        extra = {"split": {"fit": round(fit_s, 3), "predict": round(seconds - fit_s, 3)},
                 "bgnbd": dict(bg.params_), "gamma_gamma": dict(gg.params_)}
    else:
        raise SystemExit(f"unknown worker {kind}")
    return {"kind": kind, "seconds": round(seconds, 3), "peak_rss_mb": round(peak_rss_mb(), 1), **extra}


def measure(kind: str, workspace: Path, npz: Path, timeout: float) -> dict | None:
    env = dict(os.environ, PYTHONPATH=str(SRC) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    cmd = [sys.executable, __file__, "--worker", kind, "--workspace", str(workspace), "--npz", str(npz)]
    try:
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, check=True)
    except subprocess.TimeoutExpired:
        return {"kind": kind, "timeout": timeout}
    except subprocess.CalledProcessError as exc:
        print(exc.stderr[-3000:], file=sys.stderr)
        return None
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--orders", type=int, default=10_000_000)
    ap.add_argument("--members", type=int, default=2_000_000)
    ap.add_argument("--timeout", type=float, default=3600, help="seconds per measurement")
    ap.add_argument("--worker")
    ap.add_argument("--workspace", type=Path)
    ap.add_argument("--npz", type=Path)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.workspace, args.npz), default=float))
        return
    sys.path.insert(0, str(SRC))
    from siyu_cli.config import load_settings
    from siyu_cli.store import open_store
    from siyu_cli.workspace import init_workspace

    with tempfile.TemporaryDirectory(prefix="siyu-bench-clv-") as tmp:
        root = Path(tmp) / "ws"
        init_workspace(root)
        settings = load_settings(root)
        with open_store(settings):
            pass
        start = time.perf_counter()
        generate(settings.store, args.orders, args.members)
        print(f"generated {args.orders:,} orders / {args.members:,} members in {time.perf_counter() - start:.1f}s", flush=True)
        npz = Path(tmp) / "summary.npz"
        for kind in ("measures", "siyu", "lifetimes"):
            print(json.dumps(measure(kind, root, npz, args.timeout), default=float), flush=True)


if __name__ == "__main__":
    main()
