"""HTTP guards in front of the whole app: the client's address behind proxies, allowed hosts, allowed origins,
request size, per-client rate limits.

Plain ASGI middleware, plus the pieces the chat page and the sign-in reuse: one RateLimiter for every path that
reaches the answerer, the client's address (set once in the scope by ProxyHeaders: X-Forwarded-For only from
RAG_TRUSTED_PROXIES), the sign-in limiter.
"""

from __future__ import annotations

import ipaddress
import json
import math
import re
import threading
import time
from collections import defaultdict, deque

from starlette.concurrency import run_in_threadpool

from .shared import Shared

PUBLIC_PREFIXES = ("/api/chat", "/api/conversations", "/health")
AGENT_PREFIXES = ("/api/agent", "/api/metrics")
MAX_BODY = 256 * 1024  # bytes, on every path (the chat page's too): a 100 kB question fits; bigger is refused unread
UNEXPECTED = "the server failed on this request: try again; if it goes on, tell the site's operator (its log has the details)"
TOO_LARGE = f"request body over {MAX_BODY // 1024} kB: send a shorter message"
# The chat page takes no files: Gradio's upload routes would let anyone store any file on the server's disk
NO_UPLOADS = ("/gradio_api/upload", "/gradio_api/process_recording")
LOGIN_PER_CLIENT = 10  # failed sign-ins per minute from one client
LOGIN_PER_ACCOUNT = 30  # failed sign-ins per minute on one name, from every client together
KNOWN_CLIENT_SECONDS = 12 * 3600  # a client that signed in as an agent is not locked out of that account by others


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

    def retry_after(self, client: str, now: float | None = None, count: bool = True) -> float:
        """0 when the request may go ahead (and is counted, unless `count` is false), else seconds to wait."""
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
            if count:
                window.append(now)
            return 0.0


class SharedRateLimiter:
    """The same limit counted in the desk's database, so it holds across servers: fixed one-minute windows."""

    def __init__(self, shared: Shared, per_minute: int, name: str) -> None:
        self.shared, self.per_minute, self.name = shared, per_minute, name

    def retry_after(self, client: str, now: float | None = None, count: bool = True) -> float:
        if self.per_minute <= 0:
            return 0.0
        hits, left = self.shared.hit(f"{self.name}:{client}", count=count)
        over = hits > self.per_minute if count else hits >= self.per_minute
        return max(0.1, left) if over else 0.0


def rate_limiter(per_minute: int, name: str, shared: Shared | None = None) -> RateLimiter | SharedRateLimiter:
    """In memory for one server (SQLite); in the database when servers share PostgreSQL."""
    return SharedRateLimiter(shared, per_minute, name) if shared is not None else RateLimiter(per_minute)


class LoginLimiter:
    """Failed sign-ins, limited per client and per account name. The account limit lasts at most a minute after the
    last failures and spares clients that signed in to that account before, so an attacker cannot lock a real agent out."""

    def __init__(self, per_client: int = LOGIN_PER_CLIENT, per_account: int = LOGIN_PER_ACCOUNT, shared: Shared | None = None) -> None:
        self.clients = rate_limiter(per_client, "login-client", shared)
        self.accounts = rate_limiter(per_account, "login-account", shared)
        self.known: dict[tuple[str, str], float] = {}
        self.lock = threading.Lock()

    def retry_after(self, client: str, name: str) -> float:
        """0 when this attempt may be checked, else seconds to wait."""
        wait = self.clients.retry_after(client, count=False)
        with self.lock:
            known = time.monotonic() - self.known.get((client, name), -KNOWN_CLIENT_SECONDS) < KNOWN_CLIENT_SECONDS
        return wait or (0.0 if known else self.accounts.retry_after(name, count=False))

    def failed(self, client: str, name: str) -> None:
        self.clients.retry_after(client)
        self.accounts.retry_after(name)

    def succeeded(self, client: str, name: str) -> None:
        with self.lock:
            if len(self.known) > 10_000:
                self.known.clear()
            self.known[(client, name)] = time.monotonic()


def networks(spec: str) -> list:
    """RAG_TRUSTED_PROXIES as networks: addresses or CIDR ranges, comma-separated."""
    return [ipaddress.ip_network(p.strip(), strict=False) for p in spec.split(",") if p.strip()]


def client_address(peer: str, forwarded_for: str | None, trusted: list) -> str:
    """The client a request comes from: the connection's address, unless it is a trusted proxy; then the nearest
    X-Forwarded-For address that is not itself a trusted proxy (the ones further left are the client's own claim)."""

    if not forwarded_for or not is_trusted(peer, trusted):
        return peer
    for hop in reversed([h.strip() for h in forwarded_for.split(",") if h.strip()]):
        if not is_trusted(hop, trusted):
            return hop
    return peer


def is_trusted(address: str, trusted: list) -> bool:
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return False
    return any(ip in net for net in trusted)


def forwarded_scheme(scope, headers: dict[str, str], trusted: list) -> str:
    """The request's scheme; behind a trusted proxy that ends TLS, its X-Forwarded-Proto (the first, the client's side)."""
    scheme = scope.get("scheme", "http")
    proto = headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    if proto in ("http", "https") and is_trusted((scope.get("client") or ("?", 0))[0], trusted):
        scheme = proto
    return scheme


def own_origin(scope, headers: dict[str, str], trusted: list | None = None) -> str:
    """The site's own origin; behind a trusted proxy that ends TLS, its X-Forwarded-Proto gives the scheme (none needed
    behind ProxyHeaders, which has already put it in the scope)."""
    return f"{forwarded_scheme(scope, headers, trusted or [])}://{headers.get('host', '')}"


class ProxyHeaders:
    """The one place the client's address and scheme are read from proxy headers: from X-Forwarded-For and
    X-Forwarded-Proto when the connection comes from RAG_TRUSTED_PROXIES, into the scope's `client` and `scheme`, for
    everything behind it (the guards, the sign-in limiter, the chat page). Outermost, before the guards.

    Not uvicorn's ProxyHeadersMiddleware (off in app.py): when every X-Forwarded-For hop is a trusted proxy it believes
    the leftmost, the client's own claim, where this keeps the proxy's address; and it ignores an X-Forwarded-Proto list
    ("https, http") or one in capitals, where this takes the first."""

    def __init__(self, app, trusted_proxies: str = "") -> None:
        self.app = app
        self.trusted = networks(trusted_proxies)

    async def __call__(self, scope, receive, send):
        if self.trusted and scope["type"] in ("http", "websocket"):
            scope = forwarded(scope, self.trusted)
        return await self.app(scope, receive, send)


def forwarded(scope, trusted: list) -> dict:
    """The scope with the client's address and scheme as a trusted proxy gives them; unchanged from anyone else."""
    peer = scope.get("client")
    if not peer or not is_trusted(peer[0], trusted):
        return scope
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
    host = client_address(peer[0], headers.get("x-forwarded-for"), trusted)
    scheme = forwarded_scheme(scope, headers, trusted)
    if scope["type"] == "websocket":
        scheme = scheme.replace("http", "ws")  # https -> wss; ws stays ws
    return {**scope, "client": (host, peer[1] if host == peer[0] else 0), "scheme": scheme}


def client_of(request) -> str:
    """The client's address as ProxyHeaders left it: a Starlette or Gradio request."""
    return request.client.host if request.client else "?"


_HOST = re.compile(r"(?:\[(?P<v6>[0-9a-f:.]+)\]|(?P<name>[a-z0-9._~-]+))(?::[0-9]{1,5})?|(?P<bare>[0-9a-f:.]*:[0-9a-f:.]*:[0-9a-f:.]*)")


def host_name(host_header: str) -> str:
    """The name in a Host header, without the port: `[::1]:7860` -> `::1`, `Example.com:80` -> `example.com`; "" for
    anything that is not a host and a port (`127.0.0.1:7951@evil.example`), which no allow-list holds."""
    match = _HOST.fullmatch(host_header.strip().lower())
    return next((v for v in match.group("v6", "name", "bare") if v), "") if match else ""


class Guards:
    def __init__(self, app, allowed_origins: str, rate_limit: int | RateLimiter | SharedRateLimiter,
                 allowed_hosts: str = "127.0.0.1,localhost,::1") -> None:
        self.app = app
        self.allowed = {o.strip().rstrip("/") for o in allowed_origins.split(",") if o.strip()}
        self.hosts = {"*" if h.strip() == "*" else host_name(h) for h in allowed_hosts.split(",") if h.strip()} - {""}
        self.limiter = RateLimiter(rate_limit) if isinstance(rate_limit, int) else rate_limit

    @staticmethod
    def client(scope) -> str:
        """The client's address, as ProxyHeaders (outside this middleware) has set it."""
        return (scope.get("client") or ("?", 0))[0]

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        if "*" not in self.hosts and host_name(headers.get("host", "")) not in self.hosts:  # DNS rebinding
            if scope["type"] == "websocket":
                return await send({"type": "websocket.close", "code": 1008})
            return await send_json(send, 400, {"error": "unknown Host header: add the name clients use to RAG_ALLOWED_HOSTS"})
        path = scope.get("path", "")
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if path.rstrip("/") in NO_UPLOADS:
            return await send_json(send, 404, {"error": "this server takes no file uploads"})
        if not path.startswith(PUBLIC_PREFIXES + AGENT_PREFIXES):  # the chat page (Gradio): the same size limit
            if too_large(headers.get("content-length")):
                return await send_json(send, 413, {"error": TOO_LARGE})
            return await self.app(scope, *limited(receive, send))
        origin = headers.get("origin", "").rstrip("/")
        own = own_origin(scope, {k.lower(): v for k, v in headers.items()})  # the scheme: ProxyHeaders' 
        cross = bool(origin) and origin != own
        if cross and (origin not in self.allowed or path.startswith(AGENT_PREFIXES)):
            return await send_json(send, 403, {"error": f"origin {origin} is not allowed: add it to RAG_ALLOWED_ORIGINS on the server"})
        cors = [(b"access-control-allow-origin", origin.encode()), (b"vary", b"Origin")] if cross else []
        if scope["method"] == "OPTIONS" and cross:
            await send({"type": "http.response.start", "status": 204, "headers": cors + [
                (b"access-control-allow-methods", b"GET, POST, OPTIONS"),
                (b"access-control-allow-headers", b"content-type"), (b"access-control-max-age", b"600")]})
            return await send({"type": "http.response.body", "body": b""})
        if too_large(headers.get("content-length")):
            return await send_json(send, 413, {"error": TOO_LARGE}, cors)
        if scope["method"] == "POST" and path.startswith(PUBLIC_PREFIXES):
            wait = await run_in_threadpool(self.limiter.retry_after, self.client(scope))  # shared: a database round trip
            if wait:
                seconds = math.ceil(wait)
                return await send_json(send, 429, {"error": f"too many requests: retry in {seconds} s", "retry_after": seconds},
                                       cors + [(b"retry-after", str(seconds).encode())])

        async def send_with_cors(message):
            if message["type"] == "http.response.start" and cors:
                message = {**message, "headers": list(message.get("headers", [])) + cors}
            await send(message)

        await self.app(scope, *limited(receive, send_with_cors))


def too_large(length: str | None) -> bool:
    """A Content-Length over MAX_BODY, or one that is no number of bytes."""
    return bool(length) and not (length.isascii() and length.isdigit() and int(length) <= MAX_BODY)


def limited(receive, send):
    """The ASGI receive and send of a body that may come without a length (chunked): once it grows past MAX_BODY, the
    client gets the 413 at once, the app sees the client gone, and whatever it answers then is dropped."""
    received, refused = 0, False

    async def limited_receive():
        nonlocal received, refused
        message = await receive()
        received += len(message.get("body", b""))
        if received > MAX_BODY:
            if not refused:
                refused = True
                await send_json(send, 413, {"error": TOO_LARGE})
            return {"type": "http.disconnect"}
        return message

    async def guarded_send(message):
        if not refused:
            await send(message)

    return limited_receive, guarded_send
