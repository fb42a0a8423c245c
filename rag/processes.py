"""Child processes the product starts (the local LLM server) and the tests start (the app, Chroma, PostgreSQL)."""

from __future__ import annotations

import socket
import subprocess
import time


def free_port() -> int:
    """A port nothing listens on at 127.0.0.1, now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop(process: subprocess.Popen | None, grace: float = 15) -> None:
    """SIGTERM, then SIGKILL after `grace` seconds; waits for the process to be gone."""
    if process and process.poll() is None:
        process.terminate()
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_until_up(process: subprocess.Popen, url: str, timeout: float, pause: float = 0.3) -> str:
    """Poll `url` until it answers 200: "up"; "exited" when the process ends first; "late" past `timeout` seconds."""
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return "exited"
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return "up"
        except httpx.HTTPError:
            pass
        time.sleep(pause)
    return "late"
