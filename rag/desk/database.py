"""The desk's database: one SQL layer (SQLAlchemy Core) over SQLite (default) or PostgreSQL (RAG_DATABASE_URL).

Every statement the desk runs goes through `Database.tx()` (a write transaction) or `Database.read()` (a read:
no write lock taken). A write marks the topics it changes (`tx.touch(topic)`); once it commits, the live streams
of every server are woken: in-process with SQLite, by NOTIFY (sent inside the transaction, delivered at commit)
and each server's LISTEN thread with PostgreSQL.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.exc import IntegrityError, OperationalError

from ..errors import ConfigError, StorageError
from .events import EVERYTHING, Hub
from .migrations import LATEST, STEPS, statements

CHANNEL = "relais"
log = logging.getLogger(__name__)

__all__ = ["Database", "IntegrityError", "Tx"]


class Tx:
    """One connection inside a transaction: `one`, `all`, `value` read; `run` writes (rowcount), `insert` returns the id."""

    def __init__(self, conn: sa.Connection, dialect: str) -> None:
        self.conn, self.dialect = conn, dialect
        self.topics: set[str] = set()

    def one(self, sql: str, **params) -> dict | None:
        row = self.conn.execute(sa.text(sql), params).mappings().first()
        return dict(row) if row is not None else None

    def all(self, sql: str, **params) -> list[dict]:
        return [dict(r) for r in self.conn.execute(sa.text(sql), params).mappings()]

    def value(self, sql: str, **params):
        return self.conn.execute(sa.text(sql), params).scalar()

    def run(self, sql: str, **params) -> int:
        return self.conn.execute(sa.text(sql), params).rowcount

    def insert(self, sql: str, **params) -> int:
        return self.conn.execute(sa.text(sql + " RETURNING id"), params).scalar_one()

    def lock_conversation(self, cid: str) -> None:
        """Serialise this conversation's writes, so its message ids grow in commit order (SQLite: the write lock does it)."""
        if self.dialect == "postgresql":
            self.conn.execute(sa.text("SELECT id FROM conversations WHERE id = :cid FOR UPDATE"), {"cid": cid})

    def touch(self, *topics: str) -> None:
        self.topics.update(topics)


Clock = Callable[[], float]  # seconds since the epoch, like time.time


@contextmanager
def _storage(db: Database) -> Iterator[None]:
    """The database failing (a full disk, a server down) as a StorageError a person can act on; SQL in the log only."""
    try:
        yield
    except OperationalError as exc:
        log.error("desk database %s: %s", db.safe_url, exc.orig)
        raise StorageError("the server cannot save or read its data right now (its disk may be full, or its database is "
                           "unreachable): try again in a few minutes; if it goes on, tell the site's operator") from exc


class Database:
    def __init__(self, url: str, hub: Hub | None = None, clock: Clock = time.time) -> None:
        """`url`: a SQLite file path (or sqlite:///path) or postgresql://user:password@host:port/name.
        `clock`: the desk's time, read for every timestamp it stores and every expiry, lease and window it keeps in the
        database (sessions, presence, the shared rate-limit windows, the answer lease); tests pass their own to hold
        time still. Waits and in-memory limits run on the machine's monotonic clock."""
        self.hub = hub or Hub()
        self.clock = clock
        self.url = str(url)
        self.dialect = "postgresql" if self.url.startswith(("postgresql:", "postgres:", "postgresql+psycopg:")) else "sqlite"
        self.engine = self._postgresql() if self.dialect == "postgresql" else self._sqlite()
        self._closed = threading.Event()
        try:
            self._migrate()
        except StorageError as exc:
            fix = ("check RAG_DATABASE_URL (and that PostgreSQL is running and reachable)" if self.dialect == "postgresql" else
                   "check that its folder (RAG_DATA_DIR, or RAG_DATABASE_URL) exists, is writable and has free space")
            raise ConfigError(f"cannot open the desk database {self.safe_url}: {exc.__cause__.orig}: {fix}") from None
        self._listener: threading.Thread | None = None
        self.listening = threading.Event()  # set once LISTEN holds (and every stream was told to re-read)
        if self.dialect == "postgresql":
            self._listener = threading.Thread(target=self._listen, daemon=True, name="relais-listen")
            self._listener.start()
            # the listener's first act wakes every stream: done before this server serves anyone, not in its first
            # seconds (on a loaded machine that came as a second, spurious wake-up); if PostgreSQL is slow, go on
            self.listening.wait(10)

    def now(self) -> float:
        """The desk's time (its clock), in seconds since the epoch."""
        return self.clock()

    @property
    def safe_url(self) -> str:
        """The URL without its password, for messages and logs."""
        return sa.make_url(self._sa_url()).render_as_string(hide_password=True) if self.dialect == "postgresql" else self.url

    # --- engines -------------------------------------------------------------------------------------
    def _sa_url(self) -> str:
        scheme, _, rest = self.url.partition("://")
        return f"postgresql+psycopg://{rest}" if scheme in ("postgresql", "postgres") else self.url

    def _postgresql(self) -> sa.Engine:
        # at most 30 connections per server (+1 listening): two servers fit PostgreSQL's default max_connections (100)
        return sa.create_engine(self._sa_url(), pool_size=10, max_overflow=20, pool_pre_ping=True, pool_recycle=1800)

    def _sqlite(self) -> sa.Engine:
        path = Path(self.url.removeprefix("sqlite:///"))
        path.parent.mkdir(parents=True, exist_ok=True)
        self.url = str(path)
        engine = sa.create_engine(f"sqlite:///{path}", connect_args={"timeout": 10, "check_same_thread": False},
                                  pool_size=8, max_overflow=32)

        @event.listens_for(engine, "connect")
        def _connect(dbapi, _record):
            dbapi.isolation_level = None  # SQLAlchemy's begin event below says how each transaction starts
            dbapi.execute("PRAGMA busy_timeout=10000")
            dbapi.execute("PRAGMA journal_mode=WAL")  # readers never block the writer, nor the writer them

        @event.listens_for(engine, "begin")
        def _begin(conn):
            # a write takes the lock up front, so its read-then-write steps are atomic; a read takes none
            conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("write") else "BEGIN")

        return engine

    # --- transactions --------------------------------------------------------------------------------
    @contextmanager
    def tx(self) -> Iterator[Tx]:
        """A write transaction; the topics it touched are published once it has committed."""
        with _storage(self), self.engine.connect().execution_options(write=True) as conn, conn.begin():
            t = Tx(conn, self.dialect)
            yield t
            if t.topics and self.dialect == "postgresql":
                for topic in t.topics:  # delivered to every listener (this server's too) at commit, never before
                    conn.execute(sa.text("SELECT pg_notify(:channel, :topic)"), {"channel": CHANNEL, "topic": topic})
        if t.topics and self.dialect == "sqlite":
            self.hub.publish(t.topics)

    @contextmanager
    def read(self) -> Iterator[Tx]:
        with _storage(self), self.engine.connect() as conn, conn.begin():
            yield Tx(conn, self.dialect)

    def one(self, sql: str, **params) -> dict | None:
        with self.read() as r:
            return r.one(sql, **params)

    def all(self, sql: str, **params) -> list[dict]:
        with self.read() as r:
            return r.all(sql, **params)

    def value(self, sql: str, **params):
        with self.read() as r:
            return r.value(sql, **params)

    # --- schema --------------------------------------------------------------------------------------
    def version(self) -> int:
        with self.read() as r:
            if not self._has_table(r, "schema_version"):
                return 1 if self._has_table(r, "conversations") else 0
            return r.value("SELECT MAX(version) FROM schema_version") or 0

    def _migrate(self) -> None:
        with self.tx() as t:
            if self.dialect == "postgresql":  # one server migrates at a time; the others wait, then find it done
                t.value("SELECT pg_advisory_xact_lock(7260311)")
            if not self._has_table(t, "schema_version"):
                legacy = self._has_table(t, "conversations")
                t.run("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied DOUBLE PRECISION NOT NULL)")
                if legacy:  # a database from before versions: version 1, with the column 0.1 added late
                    self._legacy_columns(t)
                    self._apply(t, STEPS[0])
            current = t.value("SELECT MAX(version) FROM schema_version") or 0
            if current > LATEST:
                raise ConfigError(f"the desk database is at schema version {current}, newer than this Relais ({LATEST}): upgrade Relais")
            for step in STEPS[current:]:
                self._apply(t, step)

    def _apply(self, t: Tx, step) -> None:
        for sql in statements(step.postgresql if self.dialect == "postgresql" else step.sqlite):
            t.run(sql)
        t.run("INSERT INTO schema_version(version, applied) VALUES (:v, :now)", v=step.version, now=self.now())
        log.info("desk database: schema version %s (%s)", step.version, step.what)

    def _legacy_columns(self, t: Tx) -> None:
        if "client_id" not in {r["name"] for r in t.all("PRAGMA table_info(messages)")}:
            t.run("ALTER TABLE messages ADD COLUMN client_id TEXT")

    def _has_table(self, t: Tx, name: str) -> bool:
        return name in sa.inspect(t.conn).get_table_names()

    # --- live updates across servers -----------------------------------------------------------------
    def _listen(self) -> None:
        """LISTEN on its own connection; on a lost connection, reconnect and wake every stream (they re-read)."""
        import psycopg

        dsn = sa.make_url(self._sa_url()).set(drivername="postgresql").render_as_string(hide_password=False)
        warned = False
        while not self._closed.is_set():
            try:
                with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    warned = False
                    self.hub.publish([EVERYTHING])
                    self.listening.set()
                    while not self._closed.is_set():
                        for note in conn.notifies(timeout=1.0):
                            self.hub.publish([note.payload])
            except psycopg.Error as exc:
                if not self._closed.is_set():
                    if not warned:  # once per outage: streams keep re-reading on their keep-alive meanwhile
                        log.warning("desk database: lost the LISTEN connection (%s); reconnecting every second", exc)
                        warned = True
                    self._closed.wait(1.0)

    def close(self) -> None:
        self._closed.set()
        self.engine.dispose()
