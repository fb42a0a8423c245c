"""The servers' set-up: app servers on one data folder (devtools/servers.py starts each), and the ingest into Chroma."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from devtools.servers import LiveApp

from .plan import ROOT, SEEDS


@contextmanager
def app_servers(count: int, data_dir: Path, env: dict[str, str]) -> Iterator[list[LiveApp]]:
    """`count` app servers on one data folder (one after the other: the first builds the BM25 cache the next ones load)."""
    apps: list[LiveApp] = []
    try:
        for _ in range(count):
            app = LiveApp(data_dir, SEEDS, **env)
            while any(a.port == app.port for a in apps):
                app = LiveApp(data_dir, SEEDS, **env)
            apps.append(app)
            app.start(timeout=300)
        yield apps
    finally:
        for app in apps:
            app.stop()


def ingest_into(env: dict[str, str]) -> None:
    subprocess.run([sys.executable, "ingest.py", "--quiet"], cwd=ROOT, env={**os.environ, **env}, check=True,
                   capture_output=True, timeout=900)
