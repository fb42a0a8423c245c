"""Measuring: CPU seconds from /proc (app servers, Chroma, PostgreSQL, the bench, the machine) and database transactions
from pg_stat_database."""

from __future__ import annotations

import os
import resource
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from devtools.servers import LiveApp, Postgres

CLK_TCK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str]:
    """/proc/<pid>/stat fields from the state on (index 0 = field 3), past the command name in parentheses."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def cpu_seconds(pid: int, reaped_children: bool = False) -> float:
    fields = _stat(pid)
    ticks = int(fields[11]) + int(fields[12])  # utime, stime
    if reaped_children:
        ticks += int(fields[13]) + int(fields[14])  # cutime, cstime: children that have exited
    return ticks / CLK_TCK


def postgres_cpu_seconds(pg: Postgres) -> float:
    """The postmaster, its live children (backends, walwriter, …) and the backends that have exited."""
    master = int((pg.data_dir / "postmaster.pid").read_text().split()[0])
    total = cpu_seconds(master, reaped_children=True)
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == master:
            total += (int(fields[11]) + int(fields[12])) / CLK_TCK
    return total


def machine_busy_seconds() -> float:
    """CPU time spent by everything on the machine (all cores), from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return (sum(values) - values[3] - values[4]) / CLK_TCK  # minus idle and iowait


def bench_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@dataclass(frozen=True)
class Snapshot:
    at: float
    app: float
    chroma: float
    postgres: float
    bench: float
    machine: float


@dataclass(frozen=True)
class Usage:
    """CPU seconds spent by each party between two snapshots."""

    seconds: float
    app: float
    chroma: float
    postgres: float
    bench: float
    machine: float

    def pct(self, cpu: float) -> int:
        """CPU as a percentage of one core."""
        return round(100 * cpu / self.seconds) if self.seconds else 0

    @property
    def others(self) -> float:
        """What the rest of the machine used meanwhile (other tests, other users)."""
        return max(0.0, self.machine - self.app - self.chroma - self.postgres - self.bench)


class Meter:
    def __init__(self, apps: list[LiveApp], chroma_pid: int | None = None, pg: Postgres | None = None) -> None:
        self.pids = [a.process.pid for a in apps]
        self.chroma_pid, self.pg = chroma_pid, pg

    def snapshot(self) -> Snapshot:
        return Snapshot(time.perf_counter(), sum(cpu_seconds(p) for p in self.pids),
                        cpu_seconds(self.chroma_pid) if self.chroma_pid else 0.0,
                        postgres_cpu_seconds(self.pg) if self.pg else 0.0, bench_cpu_seconds(), machine_busy_seconds())

    @staticmethod
    def usage(a: Snapshot, b: Snapshot) -> Usage:
        return Usage(b.at - a.at, b.app - a.app, b.chroma - a.chroma, b.postgres - a.postgres, b.bench - a.bench, b.machine - a.machine)


def idle_app_cpu(meter: Meter, seconds: float) -> float:
    """The app servers' CPU seconds per second with no request at all (subtracted from the per-request figures)."""
    start = meter.snapshot()
    time.sleep(seconds)
    usage = Meter.usage(start, meter.snapshot())
    return usage.app / usage.seconds


@dataclass(frozen=True)
class BenchDatabase:
    """One bench database: SQLite (a relais.db in the servers' shared data folder) or one PostgreSQL database."""

    kind: str  # sqlite | postgresql
    env: dict[str, str]  # what the app servers get (RAG_DATABASE_URL)
    pg: Postgres | None = None
    name: str = ""

    def counters(self) -> tuple[int, int] | None:
        """PostgreSQL: (transactions, sessions) of this database so far, read from another database; SQLite: None."""
        if self.pg is None:
            return None
        import psycopg

        with psycopg.connect(self.pg.url, autocommit=True) as conn:
            row = conn.execute("SELECT xact_commit + xact_rollback, sessions FROM pg_stat_database WHERE datname = %s",
                               (self.name,)).fetchone()
        return int(row[0]), int(row[1])


def new_database(kind: str, pg: Postgres | None) -> BenchDatabase:
    if kind == "sqlite":
        return BenchDatabase("sqlite", {})  # the app's default: <RAG_DATA_DIR>/relais.db, shared by servers on one data folder
    name = f"bench_{uuid.uuid4().hex[:12]}"
    return BenchDatabase("postgresql", {"RAG_DATABASE_URL": pg.new_database(name)}, pg, name)


def pg_delta(before: tuple[int, int] | None, after: tuple[int, int] | None) -> tuple[int, int] | None:
    return (after[0] - before[0], after[1] - before[1]) if before and after else None
