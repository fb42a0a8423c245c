"""Dense (Chroma) + sparse (BM25) retrieval fused by reciprocal rank, as pure functions plus one small class."""

from __future__ import annotations

import bisect
import threading
import time
from collections.abc import Sequence

from .chunking import search_text
from .errors import IndexBuildingError
from .schema import Hit
from .sparse import SparseIndex
from .vector_store import Store

MODES = ("hybrid", "dense", "bm25")


def rrf(rankings: Sequence[Sequence[str]], k: int = 60) -> list[tuple[str, float]]:
    """Reciprocal-rank fusion: sum of 1 / (k + rank) over the rankings (rank from 1), best first, ties by id."""
    scores: dict[str, float] = {}
    for ranking in rankings:
        for rank, id_ in enumerate(ranking, start=1):
            scores[id_] = scores.get(id_, 0.0) + 1.0 / (k + rank)
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))


class Retriever:
    """Keeps the BM25 index in step with the store's version, checked at most every `refresh` seconds."""

    def __init__(self, store: Store, candidates: int = 30, rrf_k: int = 60, refresh: float = 2.0) -> None:
        self.store = store
        self.candidates = candidates
        self.rrf_k = rrf_k
        self.refresh = refresh
        self._sparse: SparseIndex | None = None
        self._version: str | None = None
        self._checked = 0.0
        self._lock = threading.Lock()
        self._texts: dict[str, tuple[str, dict]] = {}
        self._sentences: dict[str, tuple[list[int], list[int], list[str]]] = {}
        self._chunk_spans: dict[str, tuple[list[int], list[tuple[int, int, str]]]] = {}

    def sparse(self) -> SparseIndex:
        """The BM25 index, in step with the index. Mid-answer, an `ingest --reset` that started after the search leaves
        this answer the index it was found with (the next question is told to wait)."""
        try:
            return self._refresh()
        except IndexBuildingError:
            if self._sparse is None:
                raise
            return self._sparse

    def idf(self, stem: str) -> float:
        """BM25's idf in the index the last search read: an answer weighs its words by the index it was found with,
        and these lookups (a dozen per answer) never look at the store, so an ingest running meanwhile cannot fail them."""
        return (self._sparse if self._sparse is not None else self.sparse()).idf(stem)

    def _refresh(self) -> SparseIndex:
        """The BM25 index, rebuilt when the store's version changed; IndexBuildingError while an ingest fills it."""
        now = time.monotonic()
        if self._sparse is not None and now - self._checked < self.refresh:
            return self._sparse
        with self._lock:
            version = self.store.version()
            if self._sparse is None or version != self._version:
                # every map built before any is replaced: a failure half-way (an ingest --reset) leaves the old set whole
                rows = list(self.store.rows("chunks"))
                texts = {r["id"]: (r["text"], r["metadata"]) for r in rows}
                sentences = self.store.sentence_map()
                cache = self.store.settings.data_dir / "bm25" / self.store.name
                sparse = SparseIndex.load_or_build(cache, version, lambda: [(r["id"], search_text(r["text"], r["metadata"])) for r in rows])
                self._texts, self._sentences, self._chunk_spans = texts, sentences, _spans_by_path(texts)
                self._sparse, self._version = sparse, version
            self._checked = now
        return self._sparse

    def _rows(self, ids: list[str]) -> list[dict]:
        try:
            return self.store.sentences_by_id(ids)
        except IndexBuildingError:  # deleted by an `ingest --reset` since the search: this answer finds nothing more
            return []

    def search(self, query: str, vector: list[float] | None, k: int, mode: str = "hybrid") -> list[Hit]:
        """Top-k hits; `vector` is the query embedding (needed unless mode is bm25)."""
        sparse = self._refresh()
        dense_found = self.store.dense(vector, self.candidates) if mode != "bm25" else []
        bm25_found = sparse.search(query, self.candidates) if mode != "dense" else []
        by_sentence = self._chunks_of(self.store.dense_sentences(vector, self.candidates)) if mode == "hybrid" else []
        dense_sim = {doc.id: sim for doc, sim in dense_found}
        bm25 = dict(bm25_found)
        fused = rrf([[doc.id for doc, _ in dense_found], [id_ for id_, _ in bm25_found], by_sentence], self.rrf_k)
        hits = []
        for id_, score in fused:
            if len(hits) == k:
                break
            if id_ not in self._texts:  # written after our last refresh: seen next time
                continue
            hits.append(self._hit(id_, score, dense_sim.get(id_), bm25.get(id_)))
        return hits

    def sentences_within(self, spans: list[tuple[str, int, int]]) -> list[dict]:
        """Stored sentences inside the given (path, start, end) passages: ids from the in-memory map, rows by id."""
        self.sparse()  # keeps the maps in step with the index
        ids: list[str] = []
        seen: set[str] = set()
        for path, start, end in spans:
            starts, ends, sentence_ids = self._sentences.get(path, ([], [], []))
            i = bisect.bisect_left(starts, start)
            while i < len(starts) and starts[i] < end:
                if ends[i] <= end and sentence_ids[i] not in seen:
                    seen.add(sentence_ids[i])
                    ids.append(sentence_ids[i])
                i += 1
        return self._rows(ids)

    def sentences_after(self, path: str, end: int, limit: int) -> list[dict]:
        """The next `limit` stored sentences of a document, from character `end` on."""
        self.sparse()  # keeps the maps in step with the index
        starts, _ends, sentence_ids = self._sentences.get(path, ([], [], []))
        i = bisect.bisect_left(starts, end)
        return self._rows(sentence_ids[i : i + limit])

    def passage_of(self, path: str, start: int, end: int) -> Hit | None:
        """The first chunk of a document that holds the span whole, as a Hit (score 0: it was not retrieved)."""
        self.sparse()  # keeps the maps in step with the index
        starts, spans = self._chunk_spans.get(path, ([], []))
        for a, b, chunk_id in spans[max(0, bisect.bisect_right(starts, start) - 3) :]:
            if a > start:
                break
            if a <= start and end <= b and chunk_id in self._texts:
                return self._hit(chunk_id, 0.0)
        return None

    def _hit(self, id_: str, score: float, dense: float | None = None, bm25: float | None = None) -> Hit:
        text, meta = self._texts[id_]
        return Hit(
            id=id_, text=text, source=meta["source"], title=meta["title"], date=meta.get("date") or None,
            score=score, start=meta["start"], end=meta["end"], path=meta["path"],
            chunk_index=meta.get("chunk_index", 0), dense=dense, bm25=bm25, section=meta.get("section", ""),
        )

    def _chunks_of(self, sentences: list[tuple[dict, float]]) -> list[str]:
        """Chunks ranked by their best-matching sentence (a sentence in two overlapping chunks ranks both)."""
        ranked: dict[str, None] = {}  # ordered set
        for meta, _sim in sentences:
            starts, spans = self._chunk_spans.get(meta["path"], ([], []))
            i = bisect.bisect_right(starts, meta["start"])
            for start, end, chunk_id in spans[max(0, i - 3) : i]:  # chunks overlap by a sentence or so
                if start <= meta["start"] and meta["end"] <= end:
                    ranked.setdefault(chunk_id)
        return list(ranked)


def _spans_by_path(texts: dict[str, tuple[str, dict]]) -> dict[str, tuple[list[int], list[tuple[int, int, str]]]]:
    """Per document: chunk starts (sorted, for bisecting) and the (start, end, id) of each chunk."""
    by_path: dict[str, list[tuple[int, int, str]]] = {}
    for id_, (_text, meta) in texts.items():
        by_path.setdefault(meta["path"], []).append((meta["start"], meta["end"], id_))
    return {path: ([a for a, _, _ in spans], spans) for path, spans in ((p, sorted(s)) for p, s in by_path.items())}
