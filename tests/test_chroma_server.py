"""The same code against a real `chroma run` server on 127.0.0.1."""


import pytest

from rag.indexing import ingest
from rag.pipeline import Pipeline

from .live import chroma_server as live_chroma

pytestmark = pytest.mark.slow


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
