"""Real servers on 127.0.0.1 for the tests and the benchmarks: the app (`python app.py`), `chroma run`, and a throwaway
PostgreSQL cluster. Every one listens on a free loopback port and is stopped (and its files removed) by its owner.

PostgreSQL: only Debian's binaries (/usr/lib/postgresql/*/bin) are needed; postgres refuses to run as root, so as root
the server runs as the `postgres` system user.
"""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Self
from urllib.parse import quote

from rag.processes import free_port, stop, wait_until_up  # the helpers the product's local LLM server uses too

ROOT = Path(__file__).resolve().parent.parent


class LiveApp:
    def __init__(self, data_dir: Path, docs: Path, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "RAG_DATA_DIR": str(data_dir), "RAG_DOCS": str(docs), "RAG_EMBEDDINGS": "hash",
                    "RAG_PORT": str(self.port), "RAG_HOST": "127.0.0.1", "GRADIO_ANALYTICS_ENABLED": "False", **env}
        data_dir.parent.mkdir(parents=True, exist_ok=True)
        self.log = data_dir.parent / f"app-{self.port}.log"
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 120) -> LiveApp:
        self.process = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=self.env,
                                        stdout=self.log.open("ab"), stderr=subprocess.STDOUT)
        state = wait_until_up(self.process, f"{self.url}/health", timeout)
        if state == "up":
            return self
        if state == "exited":
            raise RuntimeError(f"app exited with {self.process.returncode}:\n{self.log.read_text()[-3000:]}")
        self.stop()
        raise RuntimeError(f"app did not answer /health within {timeout} s:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        stop(self.process)

    def kill(self) -> None:
        """SIGKILL, as a crash or a pulled plug: no shutdown code runs, open connections just drop."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def restart(self) -> LiveApp:
        self.stop()
        return self.start()


@contextmanager
def chroma_server(folder: Path, timeout: float = 60) -> Iterator[tuple[int, int]]:
    """A real `chroma run` server on a free loopback port, storing in `folder`: yields (port, pid); stopped on exit."""
    port = free_port()
    folder.mkdir(parents=True, exist_ok=True)
    chroma = shutil.which("chroma") or str(Path(sys.executable).parent / "chroma")
    proc = subprocess.Popen([chroma, "run", "--path", str(folder), "--host", "127.0.0.1", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=(folder.parent / f"chroma-{port}.log").open("ab"))
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"chroma run exited with {proc.returncode}: see {folder.parent}/chroma-{port}.log")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"chroma run did not listen on {port} within {timeout} s") from None
                time.sleep(0.3)
        yield port, proc.pid
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


# --- PostgreSQL --------------------------------------------------------------------------------------------------------
USER = "relais"
SYSTEM_USER = "postgres"  # the server's owner when we run as root
SETTINGS = {  # a throwaway cluster: durability off, room for many test connections
    "listen_addresses": "'127.0.0.1'",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
}


class PostgresMissing(RuntimeError):
    """The PostgreSQL server binaries are not installed."""


def find_bin_dir(root: Path = Path("/usr/lib/postgresql")) -> Path:
    """The newest installed version's bin directory (the one holding initdb and pg_ctl)."""
    found = [p.parent for p in root.glob("*/bin/initdb") if (p.parent / "pg_ctl").exists()]
    if not found:
        raise PostgresMissing(f"no PostgreSQL server in {root}/*/bin: apt-get install -y postgresql (make test does it)")
    return max(found, key=lambda b: tuple(int(n) for n in b.parent.name.split(".") if n.isdigit()))


class Postgres:
    """One PostgreSQL cluster in a fresh temp directory, listening on 127.0.0.1 only, with superuser `relais` (trust).

    `with Postgres() as pg: pg.url` or `start()` / `stop()`; `new_database()` gives each test its own empty database.
    """

    def __init__(self, timeout: float = 60) -> None:
        self.bin = find_bin_dir()
        self.timeout = timeout
        self.port = 0
        self.root: Path | None = None

    @property
    def data_dir(self) -> Path:
        assert self.root is not None, "Postgres is not started"
        return self.root / "data"

    @property
    def url(self) -> str:
        return self.url_for(USER)

    def url_for(self, database: str) -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{quote(database)}"

    def start(self) -> Self:
        """initdb into a fresh temp directory, start the server and wait until it accepts connections."""
        self.root = Path(tempfile.mkdtemp(prefix="relais-pg-"))
        atexit.register(self.stop)
        try:
            self._init_and_serve(self.root)
        except BaseException:
            self.stop()
            raise
        return self

    def _init_and_serve(self, root: Path) -> None:
        socket_dir = root / "socket"
        socket_dir.mkdir()
        self._give_to_server(root, socket_dir)
        self._pg("initdb", "-D", self.data_dir, "-U", USER, "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync")
        self.port = free_port()
        settings = {**SETTINGS, "port": str(self.port), "unix_socket_directories": f"'{socket_dir}'"}
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())
        self._pg("pg_ctl", "start", "-D", self.data_dir, "-l", root / "server.log", "-w", "-t", str(int(self.timeout)))
        self.new_database(USER)

    def new_database(self, name: str | None = None) -> str:
        """Create an empty database (a random name by default) and return its URL."""
        name = name or f"test_{uuid.uuid4().hex[:12]}"
        self._run(self.bin / "createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", USER, name)
        return self.url_for(name)

    def stop(self) -> None:
        """Stop the server (fast, then immediate) and remove its files; safe to call twice."""
        atexit.unregister(self.stop)
        if self.root is None:
            return
        try:
            if (self.data_dir / "postmaster.pid").exists():
                self._stop_server()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None

    def _stop_server(self) -> None:
        try:
            self._pg("pg_ctl", "stop", "-D", self.data_dir, "-m", "fast", "-w", "-t", "30")
        except RuntimeError:
            self._pg("pg_ctl", "stop", "-D", self.data_dir, "-m", "immediate", "-w", "-t", "30")

    def _give_to_server(self, *paths: Path) -> None:
        if os.geteuid() == 0:
            for path in paths:
                shutil.chown(path, SYSTEM_USER, SYSTEM_USER)

    def _pg(self, program: str, *args: str | Path) -> None:
        """Run a server program, as the `postgres` user when we are root."""
        as_server = ["runuser", "-u", SYSTEM_USER, "--"] if os.geteuid() == 0 else []
        self._run(*as_server, self.bin / program, *args)

    def _run(self, *command: str | Path) -> None:
        command_line = [str(part) for part in command]
        try:  # pg_ctl bounds its own waits by self.timeout; this bound is only a backstop
            subprocess.run(command_line, cwd=self.root, capture_output=True, text=True, check=True, timeout=self.timeout + 30)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as e:
            raise RuntimeError(f"{' '.join(command_line)} failed:\n{e.stdout or ''}{e.stderr or ''}{self._log_tail()}") from e

    def _log_tail(self) -> str:
        log = self.root / "server.log" if self.root else None
        return f"\nserver log (tail):\n{log.read_text(errors='replace')[-3000:]}" if log and log.exists() else ""

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()
