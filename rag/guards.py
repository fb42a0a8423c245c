"""HTTP guards in front of the API: allowed origins, request size, per-client rate limit. Plain ASGI middleware."""

from __future__ import annotations

import json
import math
import threading
import time
from collections import defaultdict, deque

PUBLIC_PREFIXES = ("/api/chat", "/api/conversations", "/health")
AGENT_PREFIXES = ("/api/agent", "/api/metrics")
MAX_BODY = 256 * 1024  # bytes: a 100 kB question fits; anything bigger is refused before it is read


async def send_json(send, status: int, body: dict, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    data = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode()), *(headers or [])]})
    await send({"type": "http.response.body", "body": data})


class RateLimiter:
    """Sliding one-minute window per client; thread-safe, bounded memory."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self.hits: dict[str, deque] = defaultdict(deque)
        self.lock = threading.Lock()

    def retry_after(self, client: str, now: float | None = None) -> float:
        """0 when the request may go ahead (and is counted), else seconds to wait."""
        if self.per_minute <= 0:
            return 0.0
        now = time.monotonic() if now is None else now
        with self.lock:
            if len(self.hits) > 10_000:
                self.hits = defaultdict(deque, {k: v for k, v in self.hits.items() if v and now - v[-1] < 60})
            window = self.hits[client]
            while window and now - window[0] >= 60:
                window.popleft()
            if len(window) >= self.per_minute:
                return max(0.1, 60 - (now - window[0]))
            window.append(now)
            return 0.0


class Guards:
    def __init__(self, app, allowed_origins: str, rate_limit: int) -> None:
        self.app = app
        self.allowed = {o.strip().rstrip("/") for o in allowed_origins.split(",") if o.strip()}
        self.limiter = RateLimiter(rate_limit)

    async def __call__(self, scope, receive, send):
        path = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith(PUBLIC_PREFIXES + AGENT_PREFIXES):
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        origin = headers.get("origin", "").rstrip("/")
        own = f"{scope.get('scheme', 'http')}://{headers.get('host', '')}"
        cross = bool(origin) and origin != own
        if cross and (origin not in self.allowed or path.startswith(AGENT_PREFIXES)):
            return await send_json(send, 403, {"error": f"origin {origin} is not allowed: add it to RAG_ALLOWED_ORIGINS on the server"})
        cors = [(b"access-control-allow-origin", origin.encode()), (b"vary", b"Origin")] if cross else []
        if scope["method"] == "OPTIONS" and cross:
            await send({"type": "http.response.start", "status": 204, "headers": cors + [
                (b"access-control-allow-methods", b"GET, POST, OPTIONS"),
                (b"access-control-allow-headers", b"content-type"), (b"access-control-max-age", b"600")]})
            return await send({"type": "http.response.body", "body": b""})
        length = headers.get("content-length")
        if length and (not length.isdigit() or int(length) > MAX_BODY):
            return await send_json(send, 413, {"error": f"request body over {MAX_BODY // 1024} kB: send a shorter message"}, cors)
        if scope["method"] == "POST" and path.startswith(PUBLIC_PREFIXES):
            client = (scope.get("client") or ("?", 0))[0]
            wait = self.limiter.retry_after(client)
            if wait:
                seconds = math.ceil(wait)
                return await send_json(send, 429, {"error": f"too many requests: retry in {seconds} s", "retry_after": seconds},
                                       cors + [(b"retry-after", str(seconds).encode())])

        received = 0

        async def limited_receive():
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > MAX_BODY:  # a chunked body without a length that grows past the limit
                raise ValueError("request body too large")
            return message

        async def send_with_cors(message):
            if message["type"] == "http.response.start" and cors:
                message = {**message, "headers": list(message.get("headers", [])) + cors}
            await send(message)

        await self.app(scope, limited_receive, send_with_cors)
