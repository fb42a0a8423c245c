"""The load generator's HTTP side: httpx clients, the agent's sign-in, handed-off conversations, an SSE reader, and a bare
keep-alive GET for the pollers."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx

AGENT = {"name": "agent", "password": "relais"}  # the default agent on a loopback bind
LIMITS = httpx.Limits(max_connections=None, max_keepalive_connections=None)
TIMEOUT = httpx.Timeout(60.0, read=120.0)


def client(url: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=url, timeout=TIMEOUT, limits=LIMITS)


async def sign_in(http: httpx.AsyncClient) -> None:
    """The default agent's session cookie, kept by `http`; signing in also sets the agent online."""
    (await http.post("/api/agent/login", json=AGENT)).raise_for_status()


async def handed_off(http: httpx.AsyncClient, n: int, concurrency: int = 16) -> list[str]:
    """`n` new conversations, each handed off and claimed by the signed-in agent of `http` (so the agent may reply)."""
    gate = asyncio.Semaphore(concurrency)

    async def one() -> str:
        async with gate:
            cid = (await http.post("/api/conversations", json={})).json()["conversation_id"]
            (await http.post(f"/api/conversations/{cid}/handoff", json={})).raise_for_status()
            (await http.post(f"/api/agent/conversations/{cid}/claim")).raise_for_status()
            return cid

    return list(await asyncio.gather(*(one() for _ in range(n))))


async def sse(http: httpx.AsyncClient, cid: str, on_event: Callable[[str, str], None]) -> None:
    """Follow one conversation's event stream until cancelled: on_event(event, data); comments come as ("comment", line)."""
    async with http.stream("GET", f"/api/conversations/{cid}/events") as response:
        response.raise_for_status()
        event, data = None, []
        async for line in response.aiter_lines():
            if line.startswith(":"):
                on_event("comment", line)
            elif line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].strip())
            elif not line:
                if event:
                    on_event(event, "\n".join(data))
                event, data = None, []


async def cancel_all(tasks: list[asyncio.Task]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


class KeepAliveGet:
    """GET over one HTTP/1.1 keep-alive connection, and nothing else: httpx spends ~8 ms of client CPU per request, so
    500 pollers through it saturate the load generator (on the same 2 cores) at ~115 requests/s, before the server."""

    def __init__(self, url: str) -> None:
        self.host, port = url.removeprefix("http://").split(":")
        self.port = int(port)
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, path: str) -> tuple[int, bytes]:
        for attempt in (1, 2):  # the server may close an idle connection (uvicorn: after 5 s) as a request goes out
            try:
                return await self._get(path)
            except (OSError, asyncio.IncompleteReadError, ValueError):
                self.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    async def _get(self, path: str) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.writer.write(f"GET {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n\r\n".encode())
        head = (await self.reader.readuntil(b"\r\n\r\n")).decode("latin-1").lower()
        lines = head.split("\r\n")
        headers = dict(line.split(":", 1) for line in lines[1:] if ":" in line)
        body = await self.reader.readexactly(int(headers["content-length"]))  # JSON answers: never chunked
        if headers.get("connection", "").strip() == "close":
            self.close()
        return int(lines[0].split()[1]), body

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None
