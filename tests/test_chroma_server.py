"""The index shared with other processes: a real `chroma run` server on 127.0.0.1, and the embedded store written by
another process (`python ingest.py` beside a running app)."""

import os
import subprocess
import sys

import pytest

from rag.indexing import ingest
from rag.messages import BUILDING
from rag.pipeline import Pipeline

from .live import ROOT
from .live import chroma_server as live_chroma

pytestmark = pytest.mark.slow
WIFI = "Combien coûte le wifi à bord des avions Relais Air ?"


@pytest.fixture
def chroma_server(tmp_path):
    with live_chroma(tmp_path / "server") as (port, _pid):
        yield port


def test_ingest_and_retrieve_through_a_chroma_server(settings, chroma_server, tmp_path):
    remote = settings.replace(chroma_host="127.0.0.1", chroma_port=chroma_server)
    first = ingest([remote.docs], remote, log=lambda _m: None, progress=False)
    again = ingest([remote.docs], remote, log=lambda _m: None, progress=False)
    assert first.added > 20 and again.added == 0 and again.removed == 0
    assert not (remote.chroma_path).exists(), "nothing may be written to the embedded store"
    hits = Pipeline(remote).retrieve("Combien Air Canada a-t-elle dû rendre au client ?", k=3)
    assert any("880 dollars" in h.text for h in hits)


# --- issue 25 rows 1 and 2: a running app follows what another process does to the index -----------------------------
@pytest.fixture(params=["embedded", "server"])
def backend(request, settings, tmp_path):
    """The settings of each backend, and the environment an `ingest.py` in another process needs to reach it."""
    env = {**os.environ, "RAG_DATA_DIR": str(settings.data_dir), "RAG_DOCS": str(settings.docs), "RAG_EMBEDDINGS": "hash"}
    if request.param == "embedded":
        yield settings, env
        return
    with live_chroma(tmp_path / "server") as (port, _pid):
        yield settings.replace(chroma_host="127.0.0.1", chroma_port=port), {**env, "RAG_CHROMA_HOST": "127.0.0.1",
                                                                            "RAG_CHROMA_PORT": str(port)}


def running_app(settings) -> Pipeline:
    """What a running app holds: a pipeline that has answered before (its readers are open), refreshing on every question."""
    ingest([settings.docs], settings, log=lambda _m: None, progress=False)
    pipeline = Pipeline(settings)
    pipeline.retriever.refresh = 0  # the app looks every 2 s; a test need not wait for it
    assert "5 euros" not in pipeline.ask(WIFI).text
    (settings.docs / "wifi.txt").write_text("Le wifi à bord des avions Relais Air coûte 5 euros par vol.\n")
    return pipeline


def ingest_elsewhere(env: dict, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "ingest.py", "--quiet", *args], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)


def test_a_document_ingested_by_another_process_is_answered_without_a_restart(backend):
    """Row 2: with the embedded store, the app's chromadb kept its old segment readers: "not found" until a restart."""
    settings, env = backend
    pipeline = running_app(settings)
    assert ingest_elsewhere(env).wait(120) == 0
    assert "5 euros" in pipeline.ask(WIFI).text


def test_questions_during_a_reset_by_another_process_are_told_to_wait_then_answered(backend):
    """Row 1: questions asked while `ingest.py --reset` rebuilt the index broke chromadb's reader for good (every answer
    an error until a restart), and the deleted collections were errors with Chroma's own text."""
    settings, env = backend
    pipeline = running_app(settings)
    rebuild = ingest_elsewhere(env, "--reset")
    answers, errors = [], []
    while rebuild.poll() is None:
        try:
            answers.append(pipeline.ask(WIFI).text)
        except Exception as exc:  # noqa: BLE001 - any error at all is the failure this test looks for
            errors.append(f"{type(exc).__name__}: {exc}")
    assert rebuild.returncode == 0 and errors == []
    assert all(a == BUILDING["fr"] or "5 euros" in a or "pas trouvé" in a for a in answers)  # before, during, after
    assert "5 euros" in pipeline.ask(WIFI).text and "5 euros" in pipeline.ask(WIFI).text
