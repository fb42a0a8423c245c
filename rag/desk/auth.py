"""Agent sign-in: credentials from settings, server-side sessions (the cookie is a random id; the database keeps its hash).

A session ends at sign-out, when it expires, when the agent's password changes, or when the agent is removed
from RAG_AGENTS: each session records a keyed fingerprint of the credentials it was opened with. Sessions and the
fingerprint key live in the desk's database, so a sign-in on one server holds on every other and a sign-out ends
it everywhere. The cookie is a random id, never signed data: there is nothing to forge, only a hash to look up.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets

from ..errors import ConfigError
from ..settings import Settings
from .database import Database
from .shared import Shared

DEFAULT_AGENT = ("agent", "relais")
SESSION_SECONDS = 12 * 3600
COOKIE = "relais_agent"


def is_loopback(host: str) -> bool:
    """Only an explicit loopback address (or `localhost`): an empty host means every interface to uvicorn."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Agents:
    def __init__(self, settings: Settings, db: Database | None = None) -> None:
        self.credentials = parse_agents(settings.agents)
        if not self.credentials:
            if not is_loopback(settings.host):
                raise ConfigError(
                    f"RAG_HOST={settings.host or '(empty: every interface)'} is reachable from other machines, so there is no default agent password: "
                    "set RAG_AGENTS=name:password[,name2:password2] and start again"
                )
            self.credentials = dict([DEFAULT_AGENT])
        self.db = db or Database(settings.database)
        # a key a 0.1 install kept in data/session.key stays the key, so its agents stay signed in after the upgrade
        legacy = settings.data_dir / "session.key"
        self.secret = bytes.fromhex(Shared(self.db).value("session_key", legacy.read_text().strip() if legacy.is_file() else secrets.token_hex(32)))
        self._purge()

    def _purge(self) -> None:
        """Delete the sessions these credentials revoke (agent removed, password changed) and the expired ones: a
        revoked session never comes back, even if the old password is restored or the agent re-added later."""
        valid = {name: self._credential(name) for name in self.credentials}
        with self.db.tx() as t:
            t.run("DELETE FROM sessions WHERE expires < :now", now=self.db.now())
            for row in t.all("SELECT id_hash, agent, credential FROM sessions"):
                if not hmac.compare_digest(valid.get(row["agent"], "").encode(), row["credential"].encode()):
                    t.run("DELETE FROM sessions WHERE id_hash = :h", h=row["id_hash"])
    @property
    def is_default(self) -> bool:
        return self.credentials == dict([DEFAULT_AGENT])

    def check(self, name: str, password: str) -> bool:
        expected = self.credentials.get(name or "")
        # compare even for an unknown name, so timing does not tell which names exist
        return hmac.compare_digest((expected or secrets.token_hex(8)).encode(), (password or "").encode()) and expected is not None

    def token(self, name: str) -> str:
        """Open a session for a signed-in agent: the cookie value."""
        token = secrets.token_urlsafe(32)
        with self.db.tx() as t:
            t.run("DELETE FROM sessions WHERE expires < :now", now=self.db.now())
            t.run("INSERT INTO sessions(id_hash, agent, credential, expires) VALUES (:h, :agent, :credential, :expires)",
                  h=_hash(token), agent=name, credential=self._credential(name), expires=self.db.now() + SESSION_SECONDS)
        return token

    def verify(self, token: str | None) -> str | None:
        """The signed-in agent's name, or None for a missing, unknown, revoked or expired session."""
        if not token or len(token) > 200:
            return None
        row = self.db.one("SELECT * FROM sessions WHERE id_hash = :h", h=_hash(token))
        if row is None:
            return None
        if row["expires"] < self.db.now() or row["agent"] not in self.credentials or \
                not hmac.compare_digest(row["credential"].encode(), self._credential(row["agent"]).encode()):
            self.revoke(token)  # expired, or revoked by a password change or removal: gone for good
            return None
        return row["agent"]

    def revoke(self, token: str | None) -> None:
        if token:
            with self.db.tx() as t:
                t.run("DELETE FROM sessions WHERE id_hash = :h", h=_hash(token))

    def _credential(self, name: str) -> str:
        return hmac.new(self.secret, f"{name}\0{self.credentials[name]}".encode(), hashlib.sha256).hexdigest()


def _hash(token: str) -> str:
    # latin-1 cookies can hold any character: hashing bytes never raises, whatever a client sends
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def parse_agents(raw: str) -> dict[str, str]:
    agents = {}
    for pair in (p.strip() for p in raw.split(",") if p.strip()):
        name, sep, password = pair.partition(":")
        if not sep or not name.strip() or not password:
            raise ConfigError(f"RAG_AGENTS entry {pair.split(':')[0]!r} needs the form name:password")
        agents[name.strip()] = password
    return agents
