"""Chroma, through langchain-chroma: an embedded persistent client under data/, or a `chroma run` server."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from typing import Literal

from chromadb.errors import ChromaError
from langchain_chroma import Chroma
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings

from .errors import EmbedderMismatchError, IndexBuildingError, IndexMissingError, RelaisError
from .settings import Settings

SENTENCES = "__sentences"
Which = Literal["chunks", "sentences"]  # the two collections, by name: callers never hold a Chroma object
_PAGE = 5000  # rows per Chroma get(): keeps memory flat on large collections
_WRITE = 256  # rows per Chroma upsert()
log = logging.getLogger(__name__)


def make_client(settings: Settings):
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if settings.chroma_host:
        try:
            return chromadb.HttpClient(host=settings.chroma_host, port=settings.chroma_port, settings=chroma_settings)
        except Exception as exc:  # chromadb raises plain ValueError/ConnectionError here
            raise RelaisError(
                f"cannot reach the Chroma server at {settings.chroma_host}:{settings.chroma_port} ({exc}): "
                "start it with `chroma run --path data/chroma-server`, or unset RAG_CHROMA_HOST"
            ) from None
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(settings.chroma_path), settings=chroma_settings)


def forget_embedded(settings: Settings) -> None:
    """Make the next embedded client of this folder a fresh one. chromadb keeps one engine per folder and process,
    whose segment readers never see what another process (an `ingest.py`) wrote after they opened; clients already
    made keep the old engine for the reads they are doing, and it is freed with them."""
    from chromadb.api.shared_system_client import SharedSystemClient

    SharedSystemClient._identifier_to_system.pop(str(settings.chroma_path), None)
    SharedSystemClient._identifier_to_refcount.pop(str(settings.chroma_path), None)


class Store:
    """Two collections: chunks (cited passages) and their sentences (answer units), both tagged with the embedder.

    The one owner of Chroma: every read and write of the index goes through a method here."""

    def __init__(self, settings: Settings, embeddings: Embeddings, client=None) -> None:
        self.settings = settings
        self.embeddings = embeddings
        self.own_client = client is None  # ours to reopen when another process changes the index
        self.client = client or make_client(settings)
        self.name = settings.collection
        self._chunks: Chroma | None = None
        self._sentences: Chroma | None = None
        self._seen: tuple[str, str] | None = None  # (collection id, version) the open collections were read at
        self._stale = False  # a read failed: open them again, whatever the version
        self._lock = threading.RLock()

    # --- opening -------------------------------------------------------------------------------------
    def _open(self, name: str, create: bool) -> Chroma:
        if not create and name not in {c if isinstance(c, str) else c.name for c in self.client.list_collections()}:
            raise IndexMissingError(f"no index in {self._where()}: run `python ingest.py` first")
        store = Chroma(
            collection_name=name,
            embedding_function=self.embeddings,
            client=self.client,
            collection_metadata={"embedder": self.embeddings.name, "version": ""},
            collection_configuration={"hnsw": {"space": "cosine"}},
            create_collection_if_not_exists=create,
        )
        built_with = (store._collection.metadata or {}).get("embedder")
        if built_with and built_with != self.embeddings.name:
            raise EmbedderMismatchError(
                f"the index in {self._where()} was built with embedder {built_with!r} but RAG_EMBEDDINGS is "
                f"{self.embeddings.name!r}: run `python ingest.py --reset` to re-index, or set RAG_EMBEDDINGS={built_with}"
            )
        return store

    def open(self, create: bool = False) -> Store:
        self._chunks = self._open(self.name, create)
        self._sentences = self._open(self.name + SENTENCES, create)
        return self

    def _where(self) -> str:
        s = self.settings
        where = f"Chroma server {s.chroma_host}:{s.chroma_port}" if s.chroma_host else str(s.chroma_path)
        return f"{where} (collection {self.name!r})"

    @property
    def chunks(self) -> Chroma:
        if self._chunks is None:
            self.open()
        return self._chunks

    @property
    def sentences(self) -> Chroma:
        if self._sentences is None:
            self.open()
        return self._sentences

    def reset(self) -> None:
        existing = {c if isinstance(c, str) else c.name for c in self.client.list_collections()}
        for name in (self.name, self.name + SENTENCES):
            if name in existing:
                self.client.delete_collection(name)
        self._chunks = self._sentences = None

    # --- reading -------------------------------------------------------------------------------------
    def version(self) -> str:
        """The fingerprint the last ingest stamped, read afresh: when another process has changed the index since
        (`ingest.py`, `ingest.py --reset`, a server's knowledge save), the collections are opened again, and an
        embedded client is made anew, so what it wrote is seen. IndexBuildingError while an ingest rebuilds it."""
        with self._lock:
            try:
                current = self.client.get_collection(self.name)
                metadata = current.metadata or {}
                if metadata.get("building") or metadata.get("version") == "":  # made, not filled and stamped yet
                    raise self._building(f"an ingest started at {metadata.get('building') or '?'} has not finished")
                seen = (str(current.id), metadata.get("version", ""))
                if seen != self._seen or self._stale:
                    if self._seen is not None or self._stale:
                        self._reopen()
                    self.open()
                    self._seen, self._stale = seen, False
                return seen[1]
            except (ChromaError, IndexMissingError) as exc:  # deleted by an `ingest --reset` and not made again yet
                if self._seen is None:  # or never made: IndexMissingError says to run ingest
                    with contextlib.suppress(ChromaError):
                        self.open()
                log.info("the index in %s is being made again (%s: %s)", self._where(), type(exc).__name__, exc)
                raise self._building("the collections are being made again") from None

    def _building(self, what: str) -> IndexBuildingError:
        return IndexBuildingError(
            f"the index in {self._where()} is being built ({what}): wait for it, or run `python ingest.py` again if it "
            "was interrupted"
        )

    def _reopen(self) -> None:
        """A fresh embedded client (a `chroma run` server shows every process the same index: nothing to do there)."""
        if self.own_client and not self.settings.chroma_host:
            forget_embedded(self.settings)
            self.client = make_client(self.settings)
        self._chunks = self._sentences = None

    def _read(self, read):
        """One read of the index; Chroma's errors become ours (its messages go to the log, never to a user). The usual
        cause is an `ingest --reset` under way (IndexBuildingError); else the reader chromadb left stale or broken is
        replaced and the read tried once more."""
        for attempt in (1, 2):
            try:
                return read()
            except ChromaError as exc:
                log.warning("reading the index in %s failed (%s: %s)", self._where(), type(exc).__name__, exc)
                with self._lock:
                    self._stale = True
                    if self._seen is None:  # not a reader that follows versions (an ingest): open it again
                        self._reopen()
                if attempt == 1 and self._seen is not None:
                    self.version()  # IndexBuildingError during a rebuild; else opens the index afresh for the retry
        raise RelaisError(f"the index in {self._where()} cannot be read: see the server's log; if it goes on, run "
                          "`python ingest.py --reset` and restart the app") from None

    def count(self) -> int:
        return self._read(lambda: self._collection("chunks").count())

    def _collection(self, which: Which):
        return (self.chunks if which == "chunks" else self.sentences)._collection

    def _pages(self, which: Which, include: list[str], where: dict | None = None) -> Iterator[dict]:
        """Chroma's get() a page at a time: memory stays flat on large collections."""
        offset = 0
        while True:
            got = self._read(lambda at=offset: self._collection(which).get(where=where, include=include, limit=_PAGE, offset=at))
            yield got
            if len(got["ids"]) < _PAGE:
                return
            offset += _PAGE

    def rows(self, which: Which, where: dict | None = None, embeddings: bool = False) -> Iterable[dict]:
        """Every stored row (id, document, metadata[, embedding]), paged."""
        for got in self._pages(which, ["documents", "metadatas"] + (["embeddings"] if embeddings else []), where):
            for i, id_ in enumerate(got["ids"]):
                row = {"id": id_, "text": got["documents"][i], "metadata": got["metadatas"][i]}
                if embeddings:
                    row["embedding"] = got["embeddings"][i]
                yield row

    def ids_and_paths(self, which: Which) -> Iterable[tuple[str, str]]:
        for got in self._pages(which, ["metadatas"]):
            yield from ((id_, meta["path"]) for id_, meta in zip(got["ids"], got["metadatas"]))

    def dense(self, vector: list[float], k: int) -> list[tuple[Document, float]]:
        """Nearest chunks with cosine similarity (1 - cosine distance)."""
        n = min(k, self.count())
        if n == 0:
            return []
        found = self._read(lambda: self.chunks.similarity_search_by_vector_with_relevance_scores(vector, k=n))
        return [(doc, 1.0 - distance) for doc, distance in found]

    def dense_sentences(self, vector: list[float], k: int) -> list[tuple[dict, float]]:
        """Nearest sentences (metadata, cosine similarity): a paraphrase often matches one sentence better than its chunk."""
        n = min(k, self._read(lambda: self._collection("sentences").count()))
        if n == 0:
            return []
        got = self._read(lambda: self._collection("sentences").query(query_embeddings=[vector], n_results=n,
                                                                      include=["metadatas", "distances"]))
        # a row without metadata is one another process's ingest is rewriting this instant: found next time
        return [(meta, 1.0 - dist) for meta, dist in zip(got["metadatas"][0], got["distances"][0]) if meta is not None]

    def sentence_map(self) -> dict[str, tuple[list[int], list[int], list[str]]]:
        """Every stored sentence's starts, ends and ids by document path, sorted by start."""
        by_path: dict[str, list[tuple[int, int, str]]] = defaultdict(list)
        for got in self._pages("sentences", ["metadatas"]):
            for id_, meta in zip(got["ids"], got["metadatas"]):
                if meta is not None:  # being rewritten by another process's ingest (dense_sentences)
                    by_path[meta["path"]].append((meta["start"], meta["end"], id_))
        return {path: tuple(map(list, zip(*sorted(rows)))) for path, rows in by_path.items()}

    def suspicious(self, limit: int = 50) -> list[dict]:
        """Sentences ingest flagged as hostile (rag/injection.py): source, sentence and reason."""
        from .injection import REASONS

        got = self._read(lambda: self._collection("sentences").get(where={"suspicious": {"$in": list(REASONS)}},
                                                                    include=["documents", "metadatas"], limit=limit))
        return [{"source": m["source"], "sentence": d, "reason": m["suspicious"]} for d, m in zip(got["documents"], got["metadatas"])]

    def sentences_by_id(self, ids: list[str]) -> list[dict]:
        """Stored sentences with their vectors, by id (a primary-key lookup, fast at any corpus size)."""
        if not ids:
            return []
        got = self._read(lambda: self._collection("sentences").get(ids=ids, include=["documents", "metadatas", "embeddings"]))
        rows = {id_: {"id": id_, "text": got["documents"][i], "metadata": got["metadatas"][i], "embedding": got["embeddings"][i]}
                for i, id_ in enumerate(got["ids"]) if got["metadatas"][i] is not None}  # None: being rewritten (dense_sentences)
        return [rows[i] for i in ids if i in rows]

    # --- writing -------------------------------------------------------------------------------------
    def upsert(self, which: Which, ids: list[str], texts: list[str], metadatas: list[dict], vectors: list[list[float]]) -> None:
        """Write rows with their vectors (computed by the caller: ingest embeds in its own batches), a batch at a time."""
        collection = self._collection(which)
        for i in range(0, len(ids), _WRITE):
            end = i + _WRITE
            collection.upsert(ids=ids[i:end], documents=texts[i:end], metadatas=metadatas[i:end], embeddings=vectors[i:end])

    def delete(self, which: Which, ids: list[str]) -> None:
        collection = self._collection(which)
        for i in range(0, len(ids), _PAGE):
            collection.delete(ids=ids[i : i + _PAGE])

    def stamp_version(self) -> str:
        """Record a fingerprint of the stored chunk ids, so readers know when to rebuild their BM25 index."""
        digest = hashlib.sha256()
        for id_ in sorted(id_ for id_, _ in self.ids_and_paths("chunks")):
            digest.update(id_.encode())
        version = digest.hexdigest()[:16]
        self._stamp(version=version, building="")
        return version

    def _stamp(self, **metadata: str) -> None:
        for which in ("chunks", "sentences"):
            self._collection(which).modify(metadata={"embedder": self.embeddings.name, **metadata})

    def mark_building(self) -> None:
        """Tell readers an ingest is filling an empty index, until stamp_version(): they say so, not "not found"."""
        self._stamp(version="", building=time.strftime("%Y-%m-%d %H:%M:%S"))
