"""Schema-based fuzzing of the HTTP API: `python -m tests.fuzz_api [--max-examples N]`.

Starts the app (hash embedder, temporary data folder) on a free loopback port, opens a conversation and
an agent session so that fuzzed requests reach past 404 and 401, then runs schemathesis against
/openapi.json. Exit status 0 means no request got a 5xx.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx

from .live import ROOT, LiveApp

CONFIG = """
[parameters]
cid = "{cid}"

[headers]
Cookie = "relais_agent={token}"
"""


def fuzz(max_examples: int = 25, workdir: Path | None = None) -> subprocess.CompletedProcess:
    workdir = Path(workdir or tempfile.mkdtemp(prefix="relais-fuzz-"))
    app = LiveApp(workdir / "data", ROOT / "seeds", RAG_RATE_LIMIT="0", RAG_AGENTS="fuzz:fuzz-password").start()
    try:
        cid = httpx.post(f"{app.url}/api/chat", json={"question": "Combien de conversations par mois ?"}).json()["conversation_id"]
        login = httpx.post(f"{app.url}/api/agent/login", json={"name": "fuzz", "password": "fuzz-password"})
        config = workdir / "schemathesis.toml"
        config.write_text(CONFIG.format(cid=cid, token=login.cookies["relais_agent"]))
        st = shutil.which("st", path=str(Path(sys.executable).parent)) or "st"
        return subprocess.run(
            [st, "--config-file", str(config), "run", f"{app.url}/openapi.json", "--checks", "not_a_server_error",
             "--max-examples", str(max_examples), "--no-color",
             "--exclude-path-regex", "/events$"],  # live streams never end: tests/test_multiserver.py reads them
            capture_output=True, text=True, timeout=900, check=False,
        )
    finally:
        app.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-examples", type=int, default=25)
    done = fuzz(parser.parse_args().max_examples)
    print(done.stdout[-4000:], done.stderr[-2000:], sep="\n")
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())
