"""What one run measures: its sizes (`Plan`, `QUICK`), and the constants the scenarios and the model share."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
SEEDS = ROOT / "seeds"
POLL_SECONDS = 1.5  # the widget's poll interval (rag/desk/static/widget.js)
KEEPALIVE = 15.0  # seconds between an SSE stream's keep-alive re-reads (rag/desk/api.py)
PG_FLUSH_S = 11.0  # PostgreSQL 15 backends publish their counters at most once a second, and within 10 s once idle


@dataclass(frozen=True)
class Plan:
    embedder: str = "e5-small"
    clients: int = 32
    chat_seconds: float = 15.0
    listeners: int = 500
    window: float = 20.0
    ramp: float = KEEPALIVE  # SSE streams open evenly over one keep-alive period: their re-reads spread out, as in real life
    replies_per_s: float = 5.0
    cross_samples: int = 5


QUICK = Plan(embedder="hash", clients=8, chat_seconds=4.0, listeners=40, window=6.0, ramp=2.0, replies_per_s=5.0, cross_samples=2)
