"""Agent sign-in: credentials from settings, sessions as signed cookies (HMAC, secret kept under data/)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import os
import secrets
import time

from .errors import ConfigError
from .settings import Settings

DEFAULT_AGENT = ("agent", "relais")
SESSION_SECONDS = 12 * 3600
COOKIE = "relais_agent"


def is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Agents:
    def __init__(self, settings: Settings) -> None:
        self.credentials = parse_agents(settings.agents)
        if not self.credentials:
            if not is_loopback(settings.host):
                raise ConfigError(
                    f"RAG_HOST={settings.host} is reachable from other machines, so there is no default agent password: "
                    "set RAG_AGENTS=name:password[,name2:password2] and start again"
                )
            self.credentials = dict([DEFAULT_AGENT])
        self.secret = _secret(settings)

    @property
    def is_default(self) -> bool:
        return self.credentials == dict([DEFAULT_AGENT])

    def check(self, name: str, password: str) -> bool:
        expected = self.credentials.get(name or "")
        # compare even for an unknown name, so timing does not tell which names exist
        return hmac.compare_digest((expected or secrets.token_hex(8)).encode(), (password or "").encode()) and expected is not None

    def token(self, name: str) -> str:
        payload = f"{name}|{int(time.time()) + SESSION_SECONDS}"
        return base64.urlsafe_b64encode(payload.encode()).decode() + "." + self._sign(payload)

    def verify(self, token: str | None) -> str | None:
        """The signed-in agent's name, or None for a missing, forged or expired session."""
        try:
            encoded, signature = (token or "").rsplit(".", 1)
            payload = base64.urlsafe_b64decode(encoded.encode()).decode()
            name, expires = payload.rsplit("|", 1)
        except ValueError:
            return None
        if not hmac.compare_digest(signature, self._sign(payload)) or int(expires) < time.time():
            return None
        return name if name in self.credentials else None

    def _sign(self, payload: str) -> str:
        return hmac.new(self.secret, payload.encode(), hashlib.sha256).hexdigest()


def parse_agents(raw: str) -> dict[str, str]:
    agents = {}
    for pair in (p.strip() for p in raw.split(",") if p.strip()):
        name, sep, password = pair.partition(":")
        if not sep or not name.strip() or not password:
            raise ConfigError(f"RAG_AGENTS entry {pair.split(':')[0]!r} needs the form name:password")
        agents[name.strip()] = password
    return agents


def _secret(settings: Settings) -> bytes:
    """Per-installation signing key, created once, so sessions survive a restart."""
    path = settings.data_dir / "session.key"
    if not path.exists():
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first
            time.sleep(0.05)
        else:
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32))
    return bytes.fromhex(path.read_text().strip())
