"""Time each `siyu demo` step at several sizes (run by hand, never in tests).

    PYTHONPATH=src python benchmarks/demo.py [MEMBERS ...]      # default: 2000 20000

Baseline for the generate step: writing the same number of CSV rows of constant text with the csv module
(the I/O floor), so the ratio is the generator's own cost. Other steps are timed as they run; a step
whose package is missing from the build shows as failed (and stops the run, as in `siyu demo`).
"""

from __future__ import annotations

import csv
import shutil
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from siyu_cli.demo.runner import run_demo  # noqa: E402

TODAY = date(2026, 11, 25)


def baseline_csv(folder: Path, rows: int, columns: int = 40) -> float:
    row = ["山茶咖啡上海静安店"] * columns
    t0 = time.perf_counter()
    with open(folder / "baseline.csv", "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        for _ in range(rows):
            w.writerow(row)
    return time.perf_counter() - t0


def main(sizes: list[int]) -> None:
    print(f"{'members':>8} {'step':<9} {'status':<8} {'seconds':>8}  summary")
    for n in sizes:
        tmp = Path(tempfile.mkdtemp(prefix="siyu-demo-bench-"))
        try:
            result = run_demo(tmp / "demo", members=n, seed=7, today=TODAY)
            for s in result.steps:
                line = " · ".join(f"{k} {v}" for k, v in s.summary.items()) if s.status == "ok" else (s.error or "")
                print(f"{n:>8} {s.id:<9} {s.status:<8} {s.seconds:>8.2f}  {line[:90]}")
            gen = result.step("generate")
            if gen and gen.status == "ok":
                rows = gen.summary["rows"]
                base = baseline_csv(tmp, rows)
                print(f"{n:>8} {'baseline':<9} {'csv':<8} {base:>8.2f}  {rows:,} constant rows with csv.writer; "
                      f"generate/baseline = {gen.seconds / base:.1f}x")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [2000, 20000])
