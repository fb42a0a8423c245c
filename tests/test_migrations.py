"""The desk's schema: versioned steps on both backends, and a database written by Relais 0.1 upgraded in place."""

from __future__ import annotations

import shutil
import sqlite3
import threading
from pathlib import Path

from rag.desk import Database, Desk
from rag.desk.auth import SESSION_SECONDS, Agents
from rag.desk.migrations import LATEST
from rag.settings import Settings

OLD = Path(__file__).parent / "data" / "relais-0.1"


class SilentPipeline:
    def suspicious(self, limit=50):
        return []  # no corpus, nothing flagged

    def stream(self, question, history=None):
        raise AssertionError("no answer expected in these tests")


def test_a_fresh_database_gets_every_step_once(database):
    assert database.version() == LATEST
    steps = [r["version"] for r in database.all("SELECT version FROM schema_version ORDER BY version")]
    assert steps == list(range(1, LATEST + 1))
    again = Database(database.url)  # a second server, or a restart: nothing applied twice
    assert again.version() == LATEST and again.value("SELECT COUNT(*) FROM schema_version") == LATEST
    again.close()


def test_a_0_1_database_upgrades_in_place_and_keeps_its_data(tmp_path):
    data = tmp_path / "data"
    shutil.copytree(OLD, data)
    with sqlite3.connect(data / "relais.db") as raw:  # what the file holds before the upgrade
        counts = {t: raw.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                  for t in ("conversations", "messages", "handoffs", "tickets", "feedback", "agents", "sessions")}
        assert "schema_version" not in {r[0] for r in raw.execute("SELECT name FROM sqlite_master")}

    # the desk's clock is the test's: an hour after 0.1 opened alice's session (its row expires SESSION_SECONDS later),
    # so the session is live on any day the test runs, and what is checked is the upgrade, not the calendar
    with sqlite3.connect(data / "relais.db") as raw:
        opened = raw.execute("SELECT MAX(expires) FROM sessions").fetchone()[0] - SESSION_SECONDS
    db = Database(data / "relais.db", clock=lambda: opened + 3600)
    assert db.version() == LATEST
    assert {t: db.value(f"SELECT COUNT(*) FROM {t}") for t in counts} == counts
    desk = Desk(SilentPipeline(), db, data / "knowledge")
    queue = desk.queue("alice")
    assert [q["state"] for q in queue] == ["waiting", "waiting"] and queue[1]["last_user_message"] == "Rappelez-moi"
    assert [desk.status(q["id"]).position for q in queue] == [1, 2]
    closed = db.value("SELECT id FROM conversations WHERE state = 'bot'")
    assert [m.role for m in desk.messages(closed)] == ["user", "bot", "system", "system", "agent", "system"]
    assert desk.metrics()["feedback_up"] == 1 and desk.tickets()[0]["contact"] == "me@example.com"
    replay = desk.ask(closed, "Combien de conversations ?", client_id="m-1")  # a 0.1 idempotency key still holds
    assert replay.bot_message_id == desk.messages(closed)[1].id and len(desk.messages(closed)) == 6
    settings = Settings.from_env({}, data_dir=data, agents="alice:pw-alice")
    agents = Agents(settings, db)
    assert agents.verify((OLD / "token").read_text()) == "alice"  # still signed in after the upgrade
    db.clock = lambda: opened + SESSION_SECONDS + 1
    assert agents.verify((OLD / "token").read_text()) is None  # and the session still ends when 0.1 said it would


def test_a_read_does_not_wait_for_the_write_lock(tmp_path):
    db = Database(tmp_path / "relais.db")
    cid = Desk(SilentPipeline(), db, tmp_path).start()
    done = threading.Event()
    with db.tx() as t:  # a writer holds SQLite's write lock
        t.run("UPDATE conversations SET lang = 'en' WHERE id = :cid", cid=cid)
        reader = threading.Thread(target=lambda: (db.one("SELECT lang FROM conversations WHERE id = :cid", cid=cid), done.set()))
        reader.start()
        reader.join(5)  # with a write lock taken for reads too, this read would wait for the busy timeout (10 s)
        assert done.is_set(), "a read waited for the writer"
    assert db.one("SELECT lang FROM conversations WHERE id = :cid", cid=cid)["lang"] == "en"
