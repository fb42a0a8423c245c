"""Shared fixtures. A guard makes any test that reaches past this machine (a model hub, say) fail."""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from rag.desk import Database
from rag.indexing import ingest
from rag.pipeline import Pipeline
from rag.settings import Settings

from .postgres import Postgres, PostgresMissing

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Only loopback connections are allowed: a test that tries a hub or any remote host fails loudly."""
    real = socket.socket.connect

    def guarded(self, address):
        host = address[0] if isinstance(address, tuple) else address
        if isinstance(host, str) and not (host.startswith("127.") or host in ("localhost", "::1") or self.family == socket.AF_UNIX):
            raise AssertionError(f"test tried to reach {address}: tests must stay offline (hub-guard)")
        return real(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)


@pytest.fixture
def corpus(tmp_path) -> Path:
    folder = tmp_path / "docs"
    shutil.copytree(SEEDS, folder)
    return folder


@pytest.fixture
def settings(tmp_path, corpus) -> Settings:
    """Hashed bag-of-words embedder: instant and offline, yet shared words really make texts close."""
    return Settings.from_env({}, data_dir=tmp_path / "data", docs=corpus, embeddings="hash")


@pytest.fixture
def pipeline(settings) -> Pipeline:
    ingest([settings.docs], settings, log=lambda _m: None, progress=False)
    return Pipeline(settings)


@pytest.fixture(scope="session")
def e5_pipeline(tmp_path_factory) -> Pipeline:
    """The real default: multilingual-e5-small over the seeds (built once per session)."""
    data = tmp_path_factory.mktemp("e5data")
    # the answerer's own threshold (RAG_CALIBRATION=off): these tests check how it reads and quotes; the calibrated
    # default decides on top of that (tests/test_calibration.py)
    settings = Settings.from_env({}, data_dir=data, docs=SEEDS, calibration="off")
    ingest([SEEDS], settings, log=lambda _m: None, progress=False)
    return Pipeline(settings).warm_up()


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """A throwaway PostgreSQL server on 127.0.0.1 for the whole session, stopped and removed at its end."""
    try:
        server = Postgres()
    except PostgresMissing:
        pytest.skip("PostgreSQL is missing: run `make test` (apt-get install -y postgresql)")
    with server:
        yield server


@pytest.fixture
def postgres_url(postgres: Postgres) -> str:
    """A fresh empty database of the session's server, one per test."""
    return postgres.new_database()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.slow)])
def database(request, settings) -> Iterator[Database]:
    """The desk's database on each backend: the SQLite file of `settings`, or a fresh PostgreSQL database."""
    url = str(settings.data_dir / "relais.db") if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    db = Database(url)
    yield db
    db.close()
