"""3. The capacity model: the busiest hour's load and what it needs, with push and with polling, from measured costs."""

from __future__ import annotations

import math
from dataclasses import dataclass

from .calibrate import OpCost, cost_of
from .chat import ChatRow
from .listen import ListenRow
from .plan import KEEPALIVE, POLL_SECONDS


@dataclass(frozen=True)
class Assumptions:
    conversations_per_month: float = 2.3e6  # Klarna's assistant, 2024
    busiest_hour_factor: float = 2.5  # the busiest hour against the average hour (2x-3x)
    questions_per_conversation: float = 3.0  # bot answers per conversation
    handoff_share: float = 0.25  # conversations handed to a person
    human_messages: float = 10.0  # messages (agent replies and the user's) while with a person
    queue_changes: float = 3.0  # per handed-off conversation: request, claim, close (each wakes every stream)
    wakes_per_answer: float = 2.0  # the user's message and the bot's answer each wake the conversation's stream
    bot_minutes: float = 3.0  # a listener is open while the widget is (bot-only conversations)
    human_minutes: float = 12.0  # ... and for conversations handed to a person (queue wait included)
    write_cost_in_reads: float = 2.0  # CPU of a message to/from a person, in poll requests (same API path, a write)
    utilisation: float = 0.6  # target CPU use of a server at the busiest hour


@dataclass(frozen=True)
class Costs:
    """Measured per-request costs (this run's PostgreSQL rows: the backend for several servers)."""

    answer_cpu_ms: float  # app CPU per /api/chat answer (1 server)
    chroma_cpu_ms: float  # Chroma server CPU per answer
    answer_pg_tx: float  # PostgreSQL transactions per answer (pg_stat_database)
    poll_cpu_ms: float  # app CPU per poll request (GET messages), with a fifth of the pollers (the server keeping up)
    stream_read_cpu_ms: float  # app CPU per SSE re-read (the fan-out: one queue change woke every stream)
    read_pg_tx: float  # PostgreSQL transactions per poll or SSE re-read (the same desk calls)
    reply_pg_tx: float  # ... per agent reply (a user's message to a person is alike)
    pg_cpu_ms_per_tx: float  # PostgreSQL CPU per transaction (the same polling window)
    answers_per_s_per_server: float  # best measured answers/s of one 2-core machine (load generator on it too)


def peak_load(a: Assumptions) -> dict[str, float]:
    """The busiest hour, per second: conversations, answers, messages with a person, queue changes, open listeners."""
    conversations = a.conversations_per_month / (30 * 24 * 3600) * a.busiest_hour_factor
    handed = conversations * a.handoff_share
    return {
        "conversations": conversations,
        "answers": conversations * a.questions_per_conversation,
        "person_messages": handed * a.human_messages,
        "queue_changes": handed * a.queue_changes,
        # Little's law: arrivals x how long each listener stays open
        "listeners": conversations * 60 * ((1 - a.handoff_share) * a.bot_minutes + a.handoff_share * a.human_minutes),
    }


def capacity(a: Assumptions, c: Costs) -> list[dict]:
    """The busiest hour's load and what it needs, with push (SSE, as the desk does now) and with 1.5 s polling."""
    load = peak_load(a)
    answers, person, queue, listeners = load["answers"], load["person_messages"], load["queue_changes"], load["listeners"]
    reads = {  # conversation re-reads per second
        "push": {"keep-alive ticks": listeners / KEEPALIVE, "own messages": answers * a.wakes_per_answer + person,
                 "queue changes (wake every stream)": queue * listeners},
        "poll": {"polls": listeners / POLL_SECONDS},
    }
    read_cpu = {"push": c.stream_read_cpu_ms, "poll": c.poll_cpu_ms}
    rows: list[tuple[str, float, float]] = [(k.replace("_", " ") + "/s" if k != "listeners" else "open listeners", v, v)
                                            for k, v in load.items()]
    for m in ("push", "poll"):
        for what, n in reads[m].items():
            rows.append((f"re-reads/s: {what}", n if m == "push" else 0.0, n if m == "poll" else 0.0))
    total = {m: sum(reads[m].values()) for m in reads}
    answer_cores = answers * c.answer_cpu_ms / 1000
    listen_cores = {m: (total[m] * read_cpu[m] + person * a.write_cost_in_reads * c.poll_cpu_ms) / 1000 for m in reads}
    cores = {m: (answer_cores + listen_cores[m]) / a.utilisation for m in reads}
    pg_tx = {m: answers * c.answer_pg_tx + total[m] * c.read_pg_tx + person * c.reply_pg_tx for m in reads}
    chroma = answers * c.chroma_cpu_ms / 1000 / a.utilisation
    rows += [
        ("re-reads/s (total)", total["push"], total["poll"]),
        ("app CPU for answers (cores busy)", answer_cores, answer_cores),
        ("app CPU for listeners and messages (cores busy)", listen_cores["push"], listen_cores["poll"]),
        (f"app cores needed at {a.utilisation:.0%} use", cores["push"], cores["poll"]),
        ("2-core app servers (from CPU ms)", math.ceil(cores["push"] / 2), math.ceil(cores["poll"] / 2)),
        ("2-core app servers for the answers alone (measured answers/s)", math.ceil(answers / (c.answers_per_s_per_server * a.utilisation)),
         math.ceil(answers / (c.answers_per_s_per_server * a.utilisation))),
        (f"Chroma server cores at {a.utilisation:.0%} use", chroma, chroma),
        ("PostgreSQL transactions/s (half are pool pre-pings)", pg_tx["push"], pg_tx["poll"]),
        ("PostgreSQL cores busy", pg_tx["push"] * c.pg_cpu_ms_per_tx / 1000, pg_tx["poll"] * c.pg_cpu_ms_per_tx / 1000),
    ]
    return [{"busiest hour": q, "push (SSE)": _round(p), "polling 1.5 s": _round(v)} for q, p, v in rows]


def _round(x: float) -> float | int:
    return x if isinstance(x, int) else round(x, 2) if abs(x) < 10 else round(x)


def measured_costs(chat: list[ChatRow], listen: list[ListenRow], calib: list[OpCost]) -> Costs | None:
    """The model's inputs from this run's PostgreSQL rows (the only backend for several servers)."""
    pg_chat = [r for r in chat if r.database == "postgresql" and r.answers]
    pg_listen = {r.mode: r for r in sorted(listen, key=lambda r: -r.listeners) if r.database == "postgresql"}  # the fewest
    if not pg_chat or set(pg_listen) != {"push", "poll"}:
        return None
    one = next((r for r in pg_chat if r.servers == 1), pg_chat[0])
    return Costs(
        answer_cpu_ms=one.app_cpu_ms_per_answer, chroma_cpu_ms=one.chroma_cpu_ms_per_answer,
        answer_pg_tx=float(one.db_tx_per_answer), poll_cpu_ms=pg_listen["poll"].app_cpu_ms_per_read,
        stream_read_cpu_ms=float(pg_listen["push"].fan_out_cpu_ms_per_stream),
        read_pg_tx=cost_of(calib, "postgresql", "GET messages", pg=True),
        reply_pg_tx=cost_of(calib, "postgresql", "POST agent reply", pg=True),
        pg_cpu_ms_per_tx=float(pg_listen["poll"].postgres_cpu_ms_per_tx),
        answers_per_s_per_server=max(r.answers_per_s for r in chat if r.answers),
    )
