"""The same code against a real `chroma run` server on 127.0.0.1."""

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rag.indexing import ingest
from rag.pipeline import Pipeline

from .live import free_port

pytestmark = pytest.mark.slow


@pytest.fixture
def chroma_server(tmp_path):
    port = free_port()
    chroma = shutil.which("chroma") or str(Path(sys.executable).parent / "chroma")
    proc = subprocess.Popen([chroma, "run", "--path", str(tmp_path / "server"), "--host", "127.0.0.1", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.3)
    else:
        proc.kill()
        pytest.fail("chroma run did not start within 60 s")
    yield port
    proc.terminate()
    proc.wait(timeout=20)


def test_ingest_and_retrieve_through_a_chroma_server(settings, chroma_server, tmp_path):
    remote = settings.replace(chroma_host="127.0.0.1", chroma_port=chroma_server)
    first = ingest([remote.docs], remote, log=lambda _m: None, progress=False)
    again = ingest([remote.docs], remote, log=lambda _m: None, progress=False)
    assert first.added > 20 and again.added == 0 and again.removed == 0
    assert not (remote.chroma_path).exists(), "nothing may be written to the embedded store"
    hits = Pipeline(remote).retrieve("Combien Air Canada a-t-elle dû rendre au client ?", k=3)
    assert any("880 dollars" in h.text for h in hits)
