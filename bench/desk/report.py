"""Output: markdown tables and the machine's conditions, printed as the run goes."""

from __future__ import annotations

import os
import sys
import time

from .plan import Plan


def table(title: str, rows: list[dict]) -> None:
    if not rows:
        return
    print(f"\n{title}\n")
    columns = list(rows[0])
    print("| " + " | ".join(columns) + " |")
    print("|---" * len(columns) + "|")
    for r in rows:
        print("| " + " | ".join("-" if r[c] is None else str(r[c]) for c in columns) + " |")
    sys.stdout.flush()


def conditions(plan: Plan, started: float) -> None:
    load = os.getloadavg()
    print(f"\nmachine: {os.cpu_count()} cores, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at start; "
          f"embedder for /api/chat: {plan.embedder}; listeners' server: hash embedder (no answers there); "
          f"{time.perf_counter() - started:.0f} s so far", flush=True)
